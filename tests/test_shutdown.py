"""Stopping `olist-etl sync`: SIGTERM / SIGINT end it cleanly, kill -9 leaves nothing the next run
cannot reclaim, and a configured PREFECT_API_URL means no temporary Prefect server at all.

The sync runs as a user runs it (a subprocess, MariaDB source, PostgreSQL warehouse, local
staging). It is caught mid-extract deterministically, never by sleeping: a second MariaDB session
holds `LOCK TABLES order_reviews WRITE`, so that table's extract waits (the process list shows it)
while the other tables' parts appear in the staging folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest
import sqlalchemy as sa

from olist_etl.db import source_engine
from olist_etl.locking import LOCK_KEY
from olist_etl.shutdown import GRACE_SECONDS, RECORD_GLOB, reclaim_stale_servers
from olist_etl.source import create_source_schema, seed_synthetic
from tests.support.services import make_settings, mariadb_database

pytestmark = pytest.mark.integration

SCALE, SEED = 0.005, 11
HELD_TABLE = "order_reviews"
SERVER_MARK = "prefect.server.api.server:create_app"  # the temporary server's command line
WAIT_SECONDS = 180  # upper bound for conditions that end as soon as they hold
STOP_SECONDS = 30  # a stopped sync must have exited within this


@pytest.fixture(scope="module")
def source_url(tmp_path_factory) -> Iterator[str]:
    with mariadb_database() as url:
        engine = source_engine(make_settings(tmp_path_factory.mktemp("seed"), source_url=url, warehouse_url=None))
        create_source_schema(engine, drop_existing=True)
        seed_synthetic(engine, SCALE, SEED)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """One Prefect home (its SQLite database) for this module's temporary servers, apart from
    whatever other test sessions on this machine use."""
    return tmp_path_factory.mktemp("prefect-home")


def sync_env(home: Path, source: str, warehouse: str, prefect_home: Path, api_url: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        OLIST_HOME=str(home), OLIST_SOURCE_URL=source, OLIST_WAREHOUSE_URL=warehouse,
        OLIST_STAGING_URL=(home / "staging").as_uri(), OLIST_PART_ROWS="200",
        PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    # A fresh Prefect home's migrations can outlast Prefect's default 20 s start-up timeout: the
    # CLI's own default covers it (test_cli_errors), so this must not.
    env.pop("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def start_sync(env: dict, logs: Path) -> subprocess.Popen:
    """Its own session, so a failed test can stop its whole group; output to files, never pipes."""
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("*.err")))
    out, err = logs / f"sync-{n}.out", logs / f"sync-{n}.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "olist_etl.app.cli", "sync", "--mode", "full", "--json"],
        env=env, stdout=open(out, "w"), stderr=open(err, "w"), start_new_session=True,
    )
    proc.err_path = err  # type: ignore[attr-defined]
    return proc


def stderr_of(proc) -> str:
    return proc.err_path.read_text(errors="replace")[-4000:]


def kill_tree(proc: subprocess.Popen, extra: list[psutil.Process] = ()) -> None:
    """Test teardown only: whatever is left of a sync and its children."""
    procs = list(extra)
    with contextlib.suppress(psutil.NoSuchProcess):
        procs += psutil.Process(proc.pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def wait_until(condition, proc: subprocess.Popen, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := condition()):
        if proc.poll() is not None:
            pytest.fail(f"the sync ended (exit {proc.returncode}) before {what}: {stderr_of(proc)}")
        if time.monotonic() > deadline:
            kill_tree(proc)
            pytest.fail(f"gave up after {WAIT_SECONDS}s waiting for {what}")
        time.sleep(0.1)
    return found


class HeldTable:
    """LOCK TABLES <table> WRITE in a MariaDB session of its own, until release()."""

    def __init__(self, url: str, table: str):
        self.url = url
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._conn = self._engine.connect()
        self._conn.exec_driver_sql(f"lock tables `{table}` write")
        self.table = table

    def waiting(self) -> bool:
        """Another session waits for this table (the sync's extract of it)."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "select info from information_schema.processlist where db = database()"
                        " and id <> :me and state like 'Waiting for table%'"
                    ),
                    {"me": self._conn.exec_driver_sql("select connection_id()").scalar_one()},
                ).scalars().all()
        finally:
            engine.dispose()
        return any(self.table in (info or "") for info in rows)

    def release(self) -> None:
        if not self._conn.closed:
            self._conn.exec_driver_sql("unlock tables")
            self._conn.close()
            self._engine.dispose()


def staged_parts(home: Path) -> list[Path]:
    return list((home / "staging").glob("runs/*/*/part-*.csv.gz"))


def temporary_servers(procs: list[psutil.Process]) -> list[psutil.Process]:
    found = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            if SERVER_MARK in " ".join(p.cmdline()):
                found.append(p)
    return found


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
    return left


def warehouse_state(url: str) -> tuple[int, int, int]:
    """(promoted runs, fact_orders rows + watermarks, holders of the sync lock)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            # Other statuses (failed, cancelled) are recorded too; only a promoted one moved data.
            runs = conn.execute(sa.text("select count(*) from etl_control.runs where status = 'promoted'")).scalar_one()
            facts = conn.execute(
                sa.text("select (select count(*) from user_access_layer.fact_orders) + (select count(*) from etl_control.watermarks)")
            ).scalar_one()
            holders = conn.execute(
                sa.text(
                    "select count(*) from pg_locks where locktype = 'advisory' and granted"
                    " and ((classid::bigint << 32) | objid::bigint) = :key"
                    " and database = (select oid from pg_database where datname = current_database())"
                ),
                {"key": LOCK_KEY},
            ).scalar_one()
    finally:
        engine.dispose()
    return runs, facts, holders


def caught_mid_extract(env: dict, logs: Path, source: str) -> tuple[subprocess.Popen, HeldTable, list[psutil.Process]]:
    """A full sync waiting on the held table with other tables' parts already staged; its
    children (recorded now: after the signal they would be orphans nobody lists)."""
    held = HeldTable(source, HELD_TABLE)
    proc = start_sync(env, logs)
    home = Path(env["OLIST_HOME"])
    wait_until(lambda: held.waiting() and staged_parts(home), proc, "the extract to wait for the held table")
    children = psutil.Process(proc.pid).children(recursive=True)
    return proc, held, children


def assert_next_sync_promotes(env: dict, logs: Path, warehouse: str) -> None:
    proc = start_sync(env, logs)
    try:
        proc.wait(timeout=600)
    finally:
        kill_tree(proc)
    assert proc.returncode == 0, stderr_of(proc)
    summary = json.loads(Path(str(proc.err_path).replace(".err", ".out")).read_text())
    assert summary["status"] == "promoted"
    # The run's last logs reach its temporary server before the server stops.
    assert "Error logging to API" not in stderr_of(proc)
    runs, facts, holders = warehouse_state(warehouse)
    assert (runs, holders) == (1, 0) and facts > 0


@pytest.mark.parametrize(("signum", "code", "release_at_once"), [(signal.SIGTERM, 143, True), (signal.SIGINT, 130, False)])
def test_a_signal_mid_extract_stops_the_sync_cleanly(source_url, postgres_url, prefect_home, tmp_path, signum, code, release_at_once):
    """SIGTERM with the held table released at once (the extract thread finishes, the normal way
    out); SIGINT with it still held (a worker thread that cannot finish: the watchdog's way out)."""
    env = sync_env(tmp_path / "home", source_url, postgres_url, prefect_home)
    proc, held, children = caught_mid_extract(env, tmp_path / "logs", source_url)
    try:
        servers = temporary_servers(children)
        assert servers, f"without PREFECT_API_URL the sync should run a temporary server; children: {children}"
        assert list((tmp_path / "home").glob(RECORD_GLOB)), "the temporary server should be recorded under OLIST_HOME"

        signalled = time.monotonic()
        os.kill(proc.pid, signum)
        if release_at_once:
            held.release()
        proc.wait(timeout=STOP_SECONDS)
        took = time.monotonic() - signalled
    finally:
        held.release()
        kill_tree(proc, children)

    assert proc.returncode == code, stderr_of(proc)
    if not release_at_once:
        assert took >= GRACE_SECONDS - 1, f"the watchdog should have ended it, not the extract ({took:.1f}s)"
    assert not alive(children), f"left running: {[(p.pid, p.cmdline()) for p in alive(children)]}"
    assert not list((tmp_path / "home").glob(RECORD_GLOB)), "the server record should be removed with the server"
    assert f"{signal.Signals(signum).name} received, stopping the sync" in stderr_of(proc)
    runs, facts, holders = warehouse_state(postgres_url)
    assert (runs, facts, holders) == (0, 0, 0), "nothing promoted and the sync lock released"
    assert_next_sync_promotes(env, tmp_path / "logs", postgres_url)


def test_after_kill_9_the_next_sync_stops_the_stale_server_and_takes_the_lock(source_url, postgres_url, prefect_home, tmp_path):
    env = sync_env(tmp_path / "home", source_url, postgres_url, prefect_home)
    proc, held, children = caught_mid_extract(env, tmp_path / "logs", source_url)
    try:
        (server,) = temporary_servers(children)
        assert warehouse_state(postgres_url)[2] == 1, "the sync should hold its lock while extracting"
        os.kill(proc.pid, signal.SIGKILL)  # the sync alone, as an OOM killer or `kill -9 PID` does
        proc.wait(timeout=STOP_SECONDS)
        held.release()
        time.sleep(1)
        assert alive([server]), "the premise: a SIGKILLed sync leaves its temporary server behind"
        # PostgreSQL ends the dead client's session, and its advisory lock with it.
        deadline = time.monotonic() + 30
        while warehouse_state(postgres_url)[2]:
            assert time.monotonic() < deadline, "the dead sync's advisory lock was not released"
            time.sleep(0.2)

        assert_next_sync_promotes(env, tmp_path / "logs", postgres_url)
        assert not alive([server]), "the next sync should have stopped the stale temporary server"
        assert not list((tmp_path / "home").glob(RECORD_GLOB))
    finally:
        held.release()
        kill_tree(proc, children)


def test_with_prefect_api_url_no_temporary_server_is_started(source_url, postgres_url, prefect_home, prefect_api, tmp_path):
    env = sync_env(tmp_path / "home", source_url, postgres_url, prefect_home, api_url=prefect_api)
    proc, held, children = caught_mid_extract(env, tmp_path / "logs", source_url)
    try:
        assert temporary_servers(children) == [], f"a server was started: {[p.cmdline() for p in children]}"
        assert not list((tmp_path / "home").glob(RECORD_GLOB))
        held.release()
        proc.wait(timeout=600)
    finally:
        held.release()
        kill_tree(proc, children)
    assert proc.returncode == 0, stderr_of(proc)


def _idle(*marker: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *marker])


def _record(home: Path, owner: subprocess.Popen, owner_created: float, server: subprocess.Popen) -> None:
    record = {
        "owner_pid": owner.pid, "owner_created": owner_created,
        "server_pid": server.pid, "server_created": psutil.Process(server.pid).create_time(), "port": 0,
    }
    (home / f"prefect-server-{owner.pid}.json").write_text(json.dumps(record))


def test_reclaim_stops_a_recorded_server_only_once_its_owner_is_gone(tmp_path):
    owner, server, stranger = _idle(), _idle(SERVER_MARK), _idle()
    try:
        owner_created = psutil.Process(owner.pid).create_time()
        _record(tmp_path, owner, owner_created, server)
        assert reclaim_stale_servers(tmp_path) == []  # the owner still runs: its server is left alone
        assert server.poll() is None and list(tmp_path.glob(RECORD_GLOB))

        owner.kill()
        owner.wait()
        assert reclaim_stale_servers(tmp_path) == [server.pid]
        assert server.wait(timeout=10) is not None
        assert not list(tmp_path.glob(RECORD_GLOB))

        # A recorded PID now held by another program (no server mark) is never touched.
        _record(tmp_path, owner, owner_created, stranger)
        assert reclaim_stale_servers(tmp_path) == []
        assert stranger.poll() is None and not list(tmp_path.glob(RECORD_GLOB))
    finally:
        for p in (owner, server, stranger):
            p.kill()
            p.wait()


def test_the_guard_does_not_import_prefects_server_until_a_server_exists():
    # With PREFECT_API_URL set no temporary server starts, so the server module (seconds of
    # imports) must not be loaded just to list servers; once it is loaded, its servers are seen.
    probe = (
        "import sys\n"
        "from olist_etl import shutdown\n"
        "assert shutdown._server_instances() == []\n"
        "assert 'prefect.server.api.server' not in sys.modules, 'listing servers imported the server'\n"
        "from prefect.server.api.server import SubprocessASGIServer\n"
        "server = SubprocessASGIServer(port=1)\n"
        "assert server in shutdown._server_instances(), 'a created server was not listed'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
