"""Two syncs against one warehouse: the PostgreSQL advisory lock lets only one load and merge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.locking import LOCK_KEY, SyncAlreadyRunning, sync_lock
from tests.conftest import POSTGRES_ADMIN_URL, make_settings
from tests.helpers import assert_tables_unchanged, table_checksums
from tests.test_sync_e2e import assert_facts_match_source, source_counts, watermarks

pytestmark = pytest.mark.integration

# An upper bound only: the wait below ends as soon as PostgreSQL shows the waiter.
WAITER_SECONDS = 300


@pytest.fixture
def sync_env(monkeypatch, olist_home, mariadb_url, postgres_url, prefect_api):
    env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": (olist_home / "staging").as_uri(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OLIST_LOCK_WAIT_SECONDS", raising=False)
    assert main(["seed-source", "--scale", "0.01", "--seed", "13"]) == 0
    return env


def _settings(env: dict):
    return make_settings(Path(env["OLIST_HOME"]), source_url=env["OLIST_SOURCE_URL"], warehouse_url=env["OLIST_WAREHOUSE_URL"])


def _sync_process(env: dict, mode: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "olist_etl.app.cli", "sync", "--mode", mode, "--json"],
        env={**os.environ, **env, **extra}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _waiting_for_lock(url: str) -> bool:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted"
                " and ((classid::bigint << 32) | objid::bigint) = :key"
                " and database = (select oid from pg_database where datname = current_database())"
            ),
            {"key": LOCK_KEY},
        ).scalar_one()
    engine.dispose()
    return waiting > 0


def test_a_sync_refuses_while_another_holds_the_lock_and_changes_nothing(sync_env, capsys):
    # Arrange: a promoted full sync, then source changes and a sync "running" (the lock held).
    assert main(["sync", "--mode", "full", "--json"]) == 0
    assert main(["simulate-changes", "--seed", "3"]) == 0
    capsys.readouterr()
    wh = sa.create_engine(sync_env["OLIST_WAREHOUSE_URL"])
    before, marks = table_checksums(wh, "user_access_layer"), watermarks(sync_env["OLIST_WAREHOUSE_URL"])
    runs_dir = Path(sync_env["OLIST_HOME"]) / "staging" / "runs"
    staged_runs = set(runs_dir.iterdir())

    with sync_lock(_settings(sync_env), "20261124T000000Z-holder"):
        # Act: an incremental sync while the lock is held.
        code = main(["sync", "--mode", "incremental", "--json"])
        err = capsys.readouterr().err

    # Assert: exit 1 with the holder named; nothing extracted, loaded or promoted.
    assert code == 1
    assert "another sync is running (run 20261124T000000Z-holder)" in err, err[-2000:]
    assert_tables_unchanged(before, table_checksums(wh, "user_access_layer"))
    assert watermarks(sync_env["OLIST_WAREHOUSE_URL"]) == marks
    assert set(runs_dir.iterdir()) == staged_runs

    # Act + assert: once the lock is free, the same sync promotes the changes.
    assert main(["sync", "--mode", "incremental", "--json"]) == 0
    assert_facts_match_source(sync_env)
    wh.dispose()


def test_a_waiting_sync_starts_when_the_lock_is_released(sync_env):
    settings = _settings(sync_env)
    with sync_lock(settings, "20261124T000000Z-holder"):
        waiter = _sync_process(sync_env, "full", OLIST_LOCK_WAIT_SECONDS="600")
        try:
            deadline = time.monotonic() + WAITER_SECONDS
            while not _waiting_for_lock(sync_env["OLIST_WAREHOUSE_URL"]):
                assert waiter.poll() is None, f"the waiting sync ended early: {waiter.communicate()}"
                assert time.monotonic() < deadline, "the second sync never queued on the lock"
                time.sleep(0.2)
            # While it waits, nothing of it reached the warehouse.
            engine = sa.create_engine(sync_env["OLIST_WAREHOUSE_URL"])
            with engine.connect() as conn:
                assert not sa.inspect(conn).has_table("runs", schema="etl_control")
            engine.dispose()
        except BaseException:
            waiter.kill()
            raise
    out, err = waiter.communicate(timeout=600)
    assert waiter.returncode == 0, err[-3000:]
    assert json.loads(out)["status"] == "promoted"
    assert_facts_match_source(sync_env)


def test_two_syncs_started_together_run_one_after_the_other(sync_env):
    # Act: two full syncs at once; each waits for the other rather than refusing.
    procs = [_sync_process(sync_env, "full", OLIST_LOCK_WAIT_SECONDS="600") for _ in range(2)]
    results = [p.communicate(timeout=900) for p in procs]

    # Assert: both promoted, their runs did not overlap, and the warehouse equals one run's.
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out)["status"] == "promoted"
    engine = sa.create_engine(sync_env["OLIST_WAREHOUSE_URL"])
    with engine.connect() as conn:
        runs = conn.execute(sa.text("select started_at, finished_at from etl_control.runs order by started_at")).all()
    engine.dispose()
    assert len(runs) == 2
    (_, first_finished), (second_started, _) = runs
    assert second_started > first_finished, f"the runs overlapped: {runs}"
    assert_facts_match_source(sync_env)
    seeded = source_counts(sync_env["OLIST_SOURCE_URL"])
    for out, _ in results:
        assert {t: c["extracted"] for t, c in json.loads(out)["tables"].items()} == seeded


def test_the_lock_is_refused_with_the_holder_named_and_is_per_warehouse(sync_env):
    settings = _settings(sync_env)
    # Another warehouse database on the same server, locked by its own sync: independent of ours.
    other = make_settings(Path(sync_env["OLIST_HOME"]), source_url="sqlite://", warehouse_url=POSTGRES_ADMIN_URL)
    with sync_lock(other, "run-other-warehouse"):
        with sync_lock(settings, "run-a") as held:
            with pytest.raises(SyncAlreadyRunning, match=r"another sync is running \(run run-a\); run run-b refused"):
                with sync_lock(settings, "run-b"):
                    pass
            held.assert_held()
    # Released: the next run takes it.
    with sync_lock(settings, "run-b") as held:
        held.assert_held()
