"""Run history against the real services: every run (promoted, blocked, failed) lands in
etl_control.runs with its timings, counts, gate outcome, quarantine key or error, and `olist-etl
runs` / `olist-etl quarantine list|show` read it back.

One seeded MariaDB source and one promoted full sync are shared by the module (a sync costs
seconds); the tests run in file order, each adding one run to the history.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
import sqlalchemy as sa

from tests.support.services import make_settings, mariadb_database, postgres_database
from tests.support.pipeline import cli, cli_json

pytestmark = pytest.mark.integration

PHASES = {"extract", "gates", "load", "merge"}
SECRET = "s3cr3t-pw"


def runs_by_id() -> dict[str, dict]:
    code, listed = cli_json("runs", "--json")
    assert code == 0, listed
    return {run["run_id"]: run for run in listed["runs"]}


class World:
    def __init__(self, env: dict, full: dict):
        self.env = env
        self.full = full
        self.source = sa.create_engine(env["OLIST_SOURCE_URL"])
        self.warehouse = sa.create_engine(env["OLIST_WAREHOUSE_URL"])
        self.blocked: dict | None = None


@pytest.fixture(scope="module")
def world(tmp_path_factory, prefect_api) -> Iterator[World]:
    home = tmp_path_factory.mktemp("runs") / "home"
    home.mkdir()
    with mariadb_database() as source_url, postgres_database() as warehouse_url:
        with pytest.MonkeyPatch.context() as mp:
            env = {
                "OLIST_HOME": str(home),
                "OLIST_SOURCE_URL": source_url,
                "OLIST_WAREHOUSE_URL": warehouse_url,
                "OLIST_STAGING_URL": (home / "staging").as_uri(),
                "OLIST_LOOKBACK_MINUTES": "0",
            }
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("OLIST_MAX_REJECTED_ROWS", raising=False)
            code, out, err = cli("seed-source", "--scale", "0.01", "--seed", "5")
            assert code == 0, err[-2000:]
            code, full = cli_json("sync", "--mode", "full", "--json")
            assert code == 0 and full["status"] == "promoted", full
            w = World(env, full)
            try:
                yield w
            finally:
                w.source.dispose()
                w.warehouse.dispose()


def test_a_promoted_run_is_recorded_with_timings_and_counts(world):
    run = runs_by_id()[world.full["run_id"]]

    assert (run["mode"], run["status"]) == ("full", "promoted")
    assert run["rows_extracted"] == sum(t["extracted"] for t in world.full["tables"].values()) > 0
    assert run["rows_promoted"] > 0
    assert set(run["phase_seconds"]) == PHASES and all(s >= 0 for s in run["phase_seconds"].values())
    # Recorded inside the promote: the same phases as the summary, the merge's time up to the record.
    recorded, reported = run["phase_seconds"], world.full["phases"]
    assert {p: recorded[p] for p in PHASES - {"merge"}} == {p: reported[p] for p in PHASES - {"merge"}}
    assert 0 < recorded["merge"] <= reported["merge"]
    assert sum(recorded.values()) <= run["duration_seconds"] + 0.5
    assert (run["failed_gate"], run["critical_failures"], run["quarantine"], run["error"]) == (None, 0, None, None)


def test_a_blocked_run_is_listed_with_its_gate_and_quarantine_key(world):
    with world.source.begin() as conn:
        order_id = conn.execute(sa.text("select order_id from orders order by order_id limit 1")).scalar_one()
        status = conn.execute(sa.text("select order_status from orders where order_id = :o"), {"o": order_id}).scalar_one()
        conn.execute(sa.text("update orders set order_status = 'teleported' where order_id = :o"), {"o": order_id})
    try:
        code, blocked = cli_json("sync", "--mode", "incremental", "--json")
    finally:
        with world.source.begin() as conn:
            conn.execute(sa.text("update orders set order_status = :s where order_id = :o"), {"s": status, "o": order_id})
    assert code == 2 and blocked["status"] == "blocked", blocked
    world.blocked = blocked

    code, listed = cli_json("runs", "--json")

    assert code == 0
    newest = listed["runs"][:2]
    assert [(r["run_id"], r["status"]) for r in newest] == [(blocked["run_id"], "blocked"), (world.full["run_id"], "promoted")]
    run = newest[0]
    assert run["mode"] == "incremental"
    assert (run["failed_gate"], run["critical_failures"]) == ("gate-staged-parts", 1)
    assert run["quarantine"] == blocked["quarantine"] and run["quarantine"].endswith(f"quarantine/{blocked['run_id']}")
    assert run["rows_promoted"] == 0 and run["rows_extracted"] >= 1 and run["error"] is None
    assert {"extract", "gates"} <= set(run["phase_seconds"]) and "merge" not in run["phase_seconds"]
    # --limit keeps the newest; the text listing names the gate.
    code, one = cli_json("runs", "--json", "--limit", "1")
    assert code == 0 and [r["run_id"] for r in one["runs"]] == [blocked["run_id"]]
    code, text, _ = cli("runs")
    assert code == 0
    line = next(line for line in text.splitlines() if line.startswith(blocked["run_id"]))
    assert "blocked" in line and "gate-staged-parts (1 critical)" in line
    # Nothing of the blocked run was promoted: the promoted history is the full sync alone.
    with world.warehouse.connect() as conn:
        promoted = conn.execute(sa.text("select run_id from etl_control.runs where status = 'promoted'")).scalars().all()
    assert promoted == [world.full["run_id"]]


def test_a_bad_limit_is_refused_in_one_line(world):
    code, out, err = cli("runs", "--limit", "0")
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and "--limit must be at least 1, got 0" in err


def test_quarantine_list_and_show_name_the_failed_expectation(world):
    blocked = world.blocked
    assert blocked is not None, "runs after test_a_blocked_run_is_listed_with_its_gate_and_quarantine_key"

    code, listed = cli_json("quarantine", "list", "--json")
    assert code == 0
    batches = {b["run_id"]: b for b in listed["quarantined"]}
    assert set(batches) == {blocked["run_id"]}  # the promoted run kept nothing there
    batch = batches[blocked["run_id"]]
    assert (batch["failed_gate"], batch["critical_failures"], batch["quarantine"]) == ("gate-staged-parts", 1, blocked["quarantine"])
    assert batch["objects"] > 3  # staged parts, manifest, gate results, summary

    code, shown = cli_json("quarantine", "show", blocked["run_id"], "--json")
    assert code == 0
    critical = [(f["gate"], f["table"], f["column"], f["expectation"]) for f in shown["failures"] if f["severity"] == "critical"]
    assert critical == [("gate-staged-parts", "orders", "order_status", "expect_column_values_to_be_in_set")]
    assert "orders" in shown["kept_objects"] and "summary.json" in shown["files"] and "manifest.json" in shown["files"]

    code, text, _ = cli("quarantine", "show", blocked["run_id"])
    assert code == 0
    assert "orders.order_status: expect_column_values_to_be_in_set" in text and "teleported" in text
    code, text, _ = cli("quarantine", "list")
    assert code == 0 and blocked["run_id"] in text and world.full["run_id"] not in text


@pytest.mark.parametrize("run_id", ["20990101T000000Z-000000", "../runs", "PROMOTED"])
def test_quarantine_show_of_an_unknown_run_exits_1_in_one_line(world, run_id):
    if run_id == "PROMOTED":
        run_id = world.full["run_id"]  # a run that exists but was promoted: nothing quarantined
    code, out, err = cli("quarantine", "show", run_id)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert repr(run_id) in err if run_id.startswith("..") else f"no quarantined batch for run {run_id}" in err


def test_a_failed_run_is_recorded_with_its_one_line_error(world, monkeypatch):
    # A delta table disappears between the last gate and the promote (a DBA, a cleanup job).
    import flows.olist_sync as flow_module

    gate = flow_module.validate_delta_tables

    def gate_then_drop(settings, manifest):
        result = gate(settings, manifest)
        with world.warehouse.begin() as conn:
            conn.execute(sa.text("drop table staging_layer.order_reviews"))
        return result

    monkeypatch.setattr(flow_module, "validate_delta_tables", gate_then_drop)
    before = runs_by_id()

    code, out, err = cli("sync", "--mode", "incremental", "--json")

    assert code == 1, out
    assert "order_reviews" in err + out
    (run,) = [r for run_id, r in runs_by_id().items() if run_id not in before]
    assert (run["mode"], run["status"]) == ("incremental", "failed")
    assert run["error"].startswith("PromoteError: promote step fact_reviews failed") and 'relation "staging_layer.order_reviews" does not exist' in run["error"]
    assert "\n" not in run["error"]
    assert run["rows_promoted"] is None and run["failed_gate"] is None and run["quarantine"] is None
    assert PHASES <= set(run["phase_seconds"])
    code, text, _ = cli("runs")
    assert code == 0 and "failed" in next(line for line in text.splitlines() if line.startswith(run["run_id"]))


def test_a_failed_run_masks_secrets_and_a_failed_record_keeps_the_original_error(world, monkeypatch):
    import flows.olist_sync as flow_module
    import olist_etl.runs as runs_module

    def promote_raising(settings, manifest, clock=None):
        raise RuntimeError(f"cannot reach postgresql://etl:{SECRET}@warehouse.example:5432/olist\nsecond line")

    monkeypatch.setattr(flow_module, "promote", promote_raising)
    before = runs_by_id()

    # Assert: recorded failed, the password masked, one line.
    code, out, err = cli("sync", "--mode", "incremental", "--json")
    assert code == 1 and "cannot reach" in err + out
    (run,) = [r for run_id, r in runs_by_id().items() if run_id not in before]
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: cannot reach postgresql://etl:***@warehouse.example:5432/olist"
    assert SECRET not in json.dumps(run)

    # Act: the warehouse refuses the record too; the run's own error is still the one reported.
    def no_engine(settings):
        raise sa.exc.OperationalError("connect", {}, Exception("warehouse gone"))

    monkeypatch.setattr(runs_module, "warehouse_engine", no_engine)
    code, out, err = cli("sync", "--mode", "incremental", "--json")
    monkeypatch.undo()
    assert code == 1 and "RuntimeError" in err + out and "cannot reach" in err + out
    assert len(runs_by_id()) == len(before) + 1  # the second failure could not be recorded


def test_the_next_sync_after_failures_promotes_and_is_listed_first(world):
    code, summary = cli_json("sync", "--mode", "incremental", "--json")
    assert code == 0 and summary["status"] == "promoted", summary
    code, listed = cli_json("runs", "--json")
    statuses = [r["status"] for r in listed["runs"]]
    assert listed["runs"][0]["run_id"] == summary["run_id"]
    assert statuses == ["promoted", "failed", "failed", "blocked", "promoted"]


def test_an_older_warehouse_gets_the_run_history_columns(postgres_url, olist_home):
    from olist_etl.runs import RunsError, list_runs
    from olist_etl.load import create_warehouse

    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        # etl_control.runs as the first release created it, with one promoted run.
        conn.execute(sa.text("create schema etl_control"))
        conn.execute(sa.text(
            "create table etl_control.runs (run_id varchar(64) not null primary key, mode varchar(16), status varchar(16),"
            " started_at timestamp, finished_at timestamp, rows_promoted bigint)"
        ))
        conn.execute(sa.text("insert into etl_control.runs values ('old-run', 'full', 'promoted', '2026-01-01 00:00', '2026-01-01 00:01', 7)"))

    with pytest.raises(RunsError, match="lacks the columns rows_extracted, phase_seconds"):
        list_runs(settings)

    create_warehouse(settings)
    (run,) = list_runs(settings)
    engine.dispose()
    assert (run["run_id"], run["status"], run["rows_promoted"], run["duration_seconds"]) == ("old-run", "promoted", 7, 60.0)
    assert run["phase_seconds"] is None and run["failed_gate"] is None
