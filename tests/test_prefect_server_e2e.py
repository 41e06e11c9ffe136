"""The deployments as users run them: a real `prefect server start`, a process work pool, `prefect
deploy` from deployments/prefect.yaml, a worker, and `prefect deployment run` against MariaDB, a
moto S3 server and PostgreSQL. Nothing here imports the flow: every run goes through the server.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.shutdown import stop_process_group
from tests.support.tables import assert_tables_unchanged, table_checksums
from tests.support.pipeline import purchase_days
from tests.support.pipeline import assert_facts_match_source, fact_counts, watermarks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# Upper bounds only (the loops end as soon as the condition holds); generous for slow CI runners.
SERVER_START_SECONDS = 120
FLOW_RUN_SECONDS = 600
CLI_SECONDS = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrefectStack:
    """A Prefect server and (later) a worker, each in its own process group with a log file."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        self.env = env
        self.api_url = env["PREFECT_API_URL"]
        self.procs: list[tuple[subprocess.Popen, Path]] = []
        self.stopped: set[int] = set()

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [PREFECT, *args], cwd=ROOT, env=env or self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append((proc, log))
        return proc

    def logs(self) -> str:
        return "\n".join(f"--- {log.name} (last 4000 chars)\n{log.read_text(errors='replace')[-4000:]}" for _, log in self.procs)

    def cli(self, *args: str) -> str:
        proc = subprocess.run([PREFECT, "--no-prompt", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=CLI_SECONDS)
        assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = httpx.request(method, f"{self.api_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def wait_healthy(self, server: subprocess.Popen) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            assert server.poll() is None, f"prefect server exited with {server.returncode}:\n{self.logs()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/health", timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        pytest.fail(f"prefect server not healthy after {SERVER_START_SECONDS}s:\n{self.logs()}")

    def run_deployment(self, name: str, *options: str) -> str:
        out = self.cli("deployment", "run", name, *options)
        match = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
        assert match, f"no flow run id in: {out}"
        return match.group(1)

    def wait_flow_run(self, flow_run_id: str) -> dict:
        deadline = time.monotonic() + FLOW_RUN_SECONDS
        while time.monotonic() < deadline:
            run = self.api("GET", f"/flow_runs/{flow_run_id}").json()
            if run["state"] and run["state"]["type"] in TERMINAL:
                return run
            assert all(p.poll() is None for p, _ in self.procs if p.pid not in self.stopped), f"server or worker exited:\n{self.logs()}"
            time.sleep(1)
        pytest.fail(f"flow run {flow_run_id} not finished after {FLOW_RUN_SECONDS}s:\n{self.logs()}")

    def wait_triggered_run(self, deployment_id: str, key: str) -> str:
        """Emit an object-created event for `key` and return the flow run its trigger starts."""
        event = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(timezone.utc).isoformat(),
            "event": "olist.staging.object-created",
            "resource": {"prefect.resource.id": f"olist.staging.{key}"},
            "payload": {},
        }
        self.api("POST", "/events", json=[event])
        deadline = time.monotonic() + FLOW_RUN_SECONDS
        while time.monotonic() < deadline:
            runs = self.api("POST", "/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}).json()
            if runs:
                assert len(runs) == 1, runs
                return runs[0]["id"]
            time.sleep(1)
        pytest.fail(f"no flow run triggered by {key} after {FLOW_RUN_SECONDS}s:\n{self.logs()}")

    def stop(self, proc: subprocess.Popen) -> None:
        self.stopped.add(proc.pid)
        stop_process_group(proc)

    def close(self) -> None:
        for proc, _ in reversed(self.procs):  # the worker (and its flow runs) before the server
            stop_process_group(proc)


@contextlib.contextmanager
def prefect_stack(tmp_path: Path, extra_env: dict[str, str]) -> Iterator[PrefectStack]:
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = free_port()
    # No PREFECT_* from the test session (its ephemeral API, profiles): this stack is self-contained.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_WORKER_QUERY_SECONDS="1",
        **extra_env,
    )
    stack = PrefectStack(home, env)
    try:
        server = stack.spawn("server", "server", "start", "--host", "127.0.0.1", "--port", str(port))
        stack.wait_healthy(server)
        yield stack
    finally:
        stack.close()


class WebhookReceiver:
    """A loopback HTTP endpoint that records every POST body: where the notification block sends."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int = 1, seconds: float = 120) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(self.received) >= count, f"no notification after {seconds}s"
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SAVE_WEBHOOK_BLOCK = (
    "import sys\n"
    "from prefect.blocks.notifications import CustomWebhookNotificationBlock as C\n"
    "C(name='olist', url=sys.argv[1], json_data={'subject': '{{subject}}', 'body': '{{body}}'}).save(sys.argv[2], overwrite=True)\n"
)


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def _orphan_order_item(source_url: str) -> None:
    """An order item whose product does not exist: the gate must block the next sync."""
    src = sa.create_engine(source_url)
    with src.begin() as conn:
        order_id, seller_id = conn.execute(sa.text("select order_id, seller_id from order_items order by order_id limit 1")).one()
        conn.execute(
            sa.text(
                "insert into order_items (order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value)"
                " values (:o, 99, :p, :s, '2018-01-01 00:00:00', 10.50, 1.25)"
            ),
            {"o": order_id, "p": "f" * 32, "s": seller_id},
        )
    src.dispose()


def test_deployments_run_through_a_real_server_and_worker(tmp_path, monkeypatch, olist_home, mariadb_url, postgres_url, s3_staging_url, webhook):
    olist_env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": s3_staging_url,
        "OLIST_PART_ROWS": "1500",
    }
    for key, value in olist_env.items():
        monkeypatch.setenv(key, value)
    assert main(["seed-source", "--scale", "0.01", "--seed", "21"]) == 0

    # The worker's environment carries the settings (and the moto endpoint and keys, inherited).
    with prefect_stack(tmp_path, olist_env) as stack:
        stack.cli("work-pool", "create", "olist-process", "--type", "process")
        stack.cli("deploy", "--prefect-file", "deployments/prefect.yaml", "--all")

        deployments = {d["name"]: d for d in stack.api("POST", "/deployments/filter", json={}).json()}
        assert {"historical", "incremental", "backfill", "incremental-on-upload"} <= set(deployments)
        incremental = deployments["incremental"]
        assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in incremental["schedules"]] == [("0 3 * * *", "America/Sao_Paulo")]
        # `prefect deploy` bakes {{ $OLIST_ETL_DIR }} in when it is set; deployed without it (as
        # here), the placeholder stays and the worker's environment resolves it at run time.
        assert deployments["historical"]["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $OLIST_ETL_DIR }}"}}
        ]
        # Only runs started here may reach the worker: pause every schedule before it starts.
        for deployment in deployments.values():
            for schedule in deployment["schedules"]:
                stack.api("PATCH", f"/deployments/{deployment['id']}/schedules/{schedule['id']}", json={"active": False})
        worker = stack.spawn("worker", "worker", "start", "--pool", "olist-process", "--type", "process", env={**stack.env, "OLIST_ETL_DIR": str(ROOT)})

        # Act + assert: historical, as a user starts it.
        run = stack.wait_flow_run(stack.run_deployment("olist-sync/historical"))
        assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"
        assert run["parameters"] == {"mode": "full"}  # no URL or password ever becomes a parameter
        assert_facts_match_source(olist_env)
        artifacts = stack.api("POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}).json()
        assert "olist-sync-summary" in {a["key"] for a in artifacts}

        # Act + assert: incremental after source changes.
        assert main(["simulate-changes", "--seed", "4"]) == 0
        run = stack.wait_flow_run(stack.run_deployment("olist-sync/incremental"))
        assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"
        assert_facts_match_source(olist_env)

        # Act + assert: a backfill of a week, dates given as the docs show; the watermarks stay.
        marks = watermarks(postgres_url)
        start = purchase_days(mariadb_url)[len(purchase_days(mariadb_url)) // 2]
        dates = {"purchased_from": start.isoformat(), "purchased_to": (start + timedelta(days=6)).isoformat()}
        run = stack.wait_flow_run(stack.run_deployment("olist-sync/backfill", *(arg for k, v in dates.items() for arg in ("-p", f"{k}={v}"))))
        assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"
        assert run["parameters"] == {"mode": "backfill", **dates}
        assert_facts_match_source(olist_env)
        assert watermarks(postgres_url) == marks
        # Without its dates a backfill fails at once, naming what is missing.
        run = stack.wait_flow_run(stack.run_deployment("olist-sync/backfill"))
        assert run["state"]["type"] == "FAILED", f"{run['state']}\n{stack.logs()}"
        assert "missing purchased_from and purchased_to" in (run["state"]["message"] or ""), run["state"]

        # Arrange: credentials as blocks, and a worker whose environment holds no URL and no AWS key.
        stack.stop(worker)
        created = subprocess.run(
            [sys.executable, "-m", "olist_etl.app.cli", "blocks", "create"], cwd=ROOT, env=stack.env,
            capture_output=True, text=True, timeout=CLI_SECONDS,
        )
        assert created.returncode == 0, created.stderr[-3000:]
        assert mariadb_url not in created.stdout + created.stderr  # names only, never values
        saved = {b["name"] for b in stack.api("POST", "/block_documents/filter", json={}).json()}
        assert {"olist-source-url", "olist-warehouse-url", "olist-aws", "olist-staging"} <= saved
        subprocess.run([sys.executable, "-c", SAVE_WEBHOOK_BLOCK, webhook.url, "olist-alerts"], env=stack.env, check=True, timeout=CLI_SECONDS)
        secretless = {k: v for k, v in stack.env.items() if not k.startswith(("OLIST_SOURCE", "OLIST_WAREHOUSE", "OLIST_STAGING", "AWS_"))}
        stack.spawn("worker-blocks", "worker", "start", "--pool", "olist-process", "--type", "process",
                    env={**secretless, "OLIST_ETL_DIR": str(ROOT), "OLIST_BLOCKS": "olist", "OLIST_NOTIFY_BLOCK": "custom-webhook/olist-alerts"})

        # Act + assert: an incremental run with every credential read from the blocks.
        assert main(["simulate-changes", "--seed", "9"]) == 0
        run = stack.wait_flow_run(stack.run_deployment("olist-sync/incremental"))
        assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"
        assert_facts_match_source(olist_env)

        # Act + assert: an object landing under incoming/ (the event the S3 -> EventBridge ->
        # webhook path emits) starts the event-triggered incremental deployment.
        assert main(["simulate-changes", "--seed", "10"]) == 0
        run = stack.wait_flow_run(stack.wait_triggered_run(deployments["incremental-on-upload"]["id"], "olist/incoming/orders-2026-11.csv"))
        assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{stack.logs()}"
        assert run["parameters"] == {"mode": "incremental"}
        assert_facts_match_source(olist_env)

        # Act + assert: bad source data ends Failed and changes nothing.
        wh = sa.create_engine(postgres_url)
        before = table_checksums(wh, "user_access_layer")
        facts = fact_counts(postgres_url)
        _orphan_order_item(mariadb_url)
        run = stack.wait_flow_run(stack.run_deployment("olist-sync/incremental"))
        assert run["state"]["type"] == "FAILED", f"{run['state']}\n{stack.logs()}"
        assert "blocked by a quality gate" in (run["state"]["message"] or ""), run["state"]
        assert_tables_unchanged(before, table_checksums(wh, "user_access_layer"))
        assert fact_counts(postgres_url) == facts
        wh.dispose()
        # Only the blocked run notified (the hook runs on failure and crash only).
        (notice,) = webhook.wait()
        assert "Failed" in notice["subject"] and run["name"] in notice["subject"], notice
        assert "blocked by a quality gate" in notice["body"] and run["id"] in notice["body"], notice


def test_a_failed_sync_notifies_with_passwords_masked(monkeypatch, olist_home, prefect_api, webhook, capsys):
    # Arrange: a notification block, and a warehouse that refuses connections (nothing listens on
    # port 1), so the flow fails at its first warehouse connection.
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    CustomWebhookNotificationBlock(name="olist", url=webhook.url, json_data={"subject": "{{subject}}", "body": "{{body}}"}).save(
        "olist-test-alerts", overwrite=True
    )
    monkeypatch.setenv("OLIST_HOME", str(olist_home))
    monkeypatch.setenv("OLIST_WAREHOUSE_URL", "postgresql://etl:Sup3rSecret@127.0.0.1:1/olist")
    monkeypatch.setenv("OLIST_NOTIFY_BLOCK", "custom-webhook/olist-test-alerts")

    # Act: the flow itself, as a deployment runs it (the CLI's pre-check would refuse the
    # unreachable warehouse before any flow run exists, so nothing would notify).
    from flows.olist_sync import olist_sync

    state = olist_sync(mode="full", return_state=True)

    # Assert: the run failed and the hook sent one notification naming it, without the password.
    assert state.is_failed(), state
    (notice,) = webhook.wait()
    assert notice["subject"].startswith("olist-sync full run ") and "Failed" in notice["subject"], notice
    assert "Sup3rSecret" not in json.dumps(notice)
    assert "Sup3rSecret" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connect to postgresql://etl:Sup3rSecret@db:5432/olist failed", "connect to postgresql://etl:***@db:5432/olist failed"),
        ("mysql+pymysql://u:p@ss@h/x, then", "mysql+pymysql://u:***@h/x, then"),
        ("s3://bucket/incoming/a.csv and http://host/a stay", "s3://bucket/incoming/a.csv and http://host/a stay"),
    ],
)
def test_notifications_mask_passwords_in_urls(text, expected):
    from olist_etl.blocks import mask_passwords

    assert mask_passwords(text) == expected


def test_blocks_that_exist_win_and_missing_ones_fall_back_to_the_environment(prefect_api, olist_home, monkeypatch):
    from olist_etl.blocks import create_blocks, settings_with_blocks
    from olist_etl.settings import Settings

    prefix = f"olist-t{uuid.uuid4().hex[:8]}"
    created = create_blocks({"OLIST_SOURCE_URL": "mysql://etl:Sup3rSecret@source-host/olist"}, prefix)
    assert created == [f"Secret {prefix}-source-url (from OLIST_SOURCE_URL)"]  # names, never values
    environ = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": "mysql://etl:old@env-host/olist",
        "OLIST_WAREHOUSE_URL": "postgresql://etl:pw@env-warehouse/olist",
        "OLIST_STAGING_URL": "s3://env-bucket/olist",
    }
    from_env = Settings.from_env(environ, load_dotenv=False)

    # Without OLIST_BLOCKS the environment alone decides.
    assert settings_with_blocks(from_env, environ) == from_env
    # With it, the source comes from its block; warehouse and staging (no blocks) from the environment.
    settings = settings_with_blocks(from_env, {**environ, "OLIST_BLOCKS": prefix})
    assert settings.source_url.reveal() == "mysql://etl:Sup3rSecret@source-host/olist"
    assert settings.warehouse_url == from_env.warehouse_url
    assert settings.staging_url == "s3://env-bucket/olist"
