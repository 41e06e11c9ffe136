"""Two syncs against one warehouse: the PostgreSQL advisory lock lets only one load and merge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.locking import LOCK_KEY, SyncAlreadyRunning, sync_lock
from tests.support.services import POSTGRES_ADMIN_URL, make_settings
from tests.support.tables import assert_tables_unchanged, table_checksums
from tests.support.pipeline import assert_facts_match_source, source_counts, watermarks

pytestmark = pytest.mark.integration

# An upper bound only: the wait below ends as soon as PostgreSQL shows the waiter.
WAITER_SECONDS = 300
# The Redshift SQL run on PostgreSQL (olist_etl/sqlfiles.py REDSHIFT_ON_POSTGRESQL).
REDSHIFT_SQL = "redshift-on-postgresql"
T0 = datetime(2018, 3, 1, 10, 0, 0)


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


@pytest.mark.parametrize("rendering", ["postgresql", REDSHIFT_SQL])
def test_two_syncs_started_together_run_one_after_the_other(sync_env, rendering):
    # Act: two full syncs at once; each waits for the other rather than refusing. On the Redshift
    # SQL there is no advisory lock: the Prefect limit "olist-sync" and LOCK etl_control.loads
    # serialise them, as on a cluster.
    procs = [_sync_process(sync_env, "full", OLIST_LOCK_WAIT_SECONDS="600", OLIST_WAREHOUSE_SQL=rendering) for _ in range(2)]
    # Both outputs are read at once: a holder whose stderr pipe filled up while only the waiter's
    # was read would block on the write, holding the lock the waiter waits for.
    with ThreadPoolExecutor(max_workers=len(procs)) as pool:
        results = list(pool.map(lambda p: p.communicate(timeout=900), procs))

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


# --- Redshift's serialisation, exercised on PostgreSQL ---------------------------------------------



class _Conflict(Exception):
    """A stand-in driver error carrying a SQLSTATE, as psycopg's do."""

    def __init__(self, sqlstate: str, message: str = "could not serialize access"):
        super().__init__(message)
        self.sqlstate = sqlstate


def test_a_serialization_conflict_is_retried_with_backoff_a_bounded_number_of_times(monkeypatch):
    from olist_etl import locking

    sleeps: list[float] = []
    monkeypatch.setattr(locking.time, "sleep", sleeps.append)
    calls = []

    def conflicting_twice():
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("promote failed") from _Conflict("40001")
        return "promoted"

    # Act / Assert: succeeds on the third attempt, after two growing backoffs.
    assert locking.retry_serialization(conflicting_twice, "promote", attempts=4, backoff=1.0) == "promoted"
    assert len(calls) == 3 and len(sleeps) == 2 and 1.0 <= sleeps[0] < sleeps[1]

    # Redshift's 1023 is recognised by its message; the last conflict is raised once attempts run out.
    calls.clear()

    def always_1023():
        calls.append(1)
        raise Exception("ERROR: 1023 DETAIL: Serializable isolation violation on table - 123456")

    with pytest.raises(Exception, match="1023"):
        locking.retry_serialization(always_1023, "load orders", attempts=3, backoff=0.01)
    assert len(calls) == 3


def test_any_other_error_is_not_retried(monkeypatch):
    from olist_etl import locking

    monkeypatch.setattr(locking.time, "sleep", lambda _: pytest.fail("no backoff for a permanent error"))
    calls = []

    def duplicate_key():
        calls.append(1)
        raise RuntimeError("duplicate key") from _Conflict("23505", "duplicate key value")

    with pytest.raises(RuntimeError, match="duplicate key"):
        locking.retry_serialization(duplicate_key, "promote")
    assert calls == [1]


def test_a_real_postgresql_serialization_failure_is_recognised(postgres_url):
    from olist_etl.locking import is_serialization_failure

    engine = sa.create_engine(postgres_url, isolation_level="SERIALIZABLE")
    with engine.begin() as conn:
        conn.execute(sa.text("create table skew (k int primary key, v int)"))
        conn.execute(sa.text("insert into skew values (1, 0), (2, 0)"))
    a, b = engine.connect(), engine.connect()
    try:
        ta, tb = a.begin(), b.begin()
        # Write skew: each reads what the other writes.
        a.execute(sa.text("select sum(v) from skew")).scalar()
        b.execute(sa.text("select sum(v) from skew")).scalar()
        a.execute(sa.text("update skew set v = 1 where k = 1"))
        b.execute(sa.text("update skew set v = 1 where k = 2"))
        ta.commit()
        with pytest.raises(sa.exc.DBAPIError) as failed:
            tb.commit()
        assert is_serialization_failure(failed.value)
        assert not is_serialization_failure(RuntimeError("relation does not exist"))
    finally:
        a.close()
        b.close()
        engine.dispose()


def _redshift_settings(settings):
    from dataclasses import replace

    return replace(settings, warehouse_sql=REDSHIFT_SQL)


def _lock_waiters(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
                " where c.relname = 'loads' and not l.granted"
            )
        ).scalar_one()


def test_a_load_waits_for_the_lock_a_promote_holds(warehouse):
    import threading

    from olist_etl.load import load_table
    from tests.support.warehouse import hexid, stage_run

    settings, engine, area = warehouse
    settings = _redshift_settings(settings)
    manifest = stage_run(area, "r1", {"customers": [(hexid(1, "c"), hexid(1, "u"), "01310", "sao paulo", "SP", T0)]})
    done = threading.Event()
    with engine.connect() as holder:
        # Arrange: a transaction that starts like every promote on the Redshift SQL.
        transaction = holder.begin()
        holder.execute(sa.text("LOCK etl_control.loads"))
        loader = threading.Thread(target=lambda: (load_table(settings, manifest, "customers"), done.set()))
        loader.start()
        deadline = time.monotonic() + 60
        while _lock_waiters(engine) == 0:
            assert time.monotonic() < deadline, "the load never waited for the lock"
            time.sleep(0.1)
        # While it waits, the delta table was not touched.
        assert not done.is_set()
        transaction.commit()
    loader.join(60)
    assert done.is_set()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select run_id from etl_control.loads where table_name = 'customers'")).scalar_one() == "r1"


def test_the_prefect_limit_refuses_a_second_sync_naming_the_holder_and_is_created_by_the_flow(prefect_api):
    from prefect.client.orchestration import get_client

    from olist_etl.locking import SYNC_LIMIT, prefect_sync_slot

    # Arrange: run-a holds the limit's only slot (the first use creates the limit).
    with prefect_sync_slot("20261124T000000Z-run-a"):
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(SYNC_LIMIT)
        assert limit.limit == 1 and limit.active_slots == 1

        # Act / Assert: run-b waits a moment, then is refused with the holder's run id.
        started = time.monotonic()
        with pytest.raises(SyncAlreadyRunning, match=r"another sync is running \(run 20261124T000000Z-run-a, Prefect concurrency limit 'olist-sync'\); run run-b refused after waiting 2s"):
            with prefect_sync_slot("run-b", wait_seconds=2):
                pytest.fail("run-b must not get the slot")
        assert time.monotonic() - started >= 2

    # Released: the next run takes it at once.
    with prefect_sync_slot("run-b"):
        pass



@pytest.mark.parametrize("rendering", ["postgresql", REDSHIFT_SQL])
def test_a_delta_is_never_filled_from_another_runs_landing_rows(warehouse, rendering):
    from dataclasses import replace

    from olist_etl.load import LoadError, load_landing, load_table
    from tests.support.warehouse import hexid, stage_run

    settings, engine, area = warehouse
    settings = replace(settings, warehouse_sql=rendering)
    rows = lambda status: {"orders": [(hexid(1, "o"), hexid(1, "c"), status, T0, None, None, None, None, T0)]}  # noqa: E731
    first, second = stage_run(area, "r1", rows("shipped")), stage_run(area, "r2", rows("canceled"))
    load_landing(settings, first, "orders")
    # Another sync's landing load lands between r1's landing load (and gate 1) and r1's fill.
    load_landing(settings, second, "orders")

    # Act / Assert: r1's fill is refused by run id (the counts agree), and the delta is untouched.
    with pytest.raises(LoadError, match=r"staging_layer\.landing_orders holds run 'r2''s rows, not run 'r1''s"):
        load_table(settings, first, "orders", landed=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from staging_layer.orders")).scalar_one() == 0

    # r2's own fill goes through.
    assert load_table(settings, second, "orders", landed=True) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("select order_status from staging_layer.orders")).scalar_one() == "canceled"
