"""The flow on a Dask task runner gives the warehouse the default runner gives, and no password
travels into what Prefect stores.

One source, two warehouses: A synced on the default runner, B on a real local Dask cluster of two
worker processes (the full sync through OLIST_DASK_ADDRESS, the incremental through
OLIST_DASK_WORKERS). After each sync both warehouses' canonical checksums (the level-1 bucket sums
of olist_etl/warehouse/compare.py) must be identical table by table, and equal to the source's.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from olist_etl.runner import RunnerChoice, runner_choice, task_runner
from olist_etl.tables import TABLE_NAMES, get_table
from olist_etl.warehouse.compare import BUCKET_DIGITS, PostgresDialect, compare_table, make_side
from tests.support.services import MARIADB_ADMIN_URL, postgres_database, unique_name

SOURCE_PASSWORD = "Dask-Src-Pw-5e81c2"


# --- choosing the runner ------------------------------------------------------------------------

def test_no_variable_keeps_the_default_runner():
    assert runner_choice({}) == RunnerChoice()
    assert task_runner({}) is None


def test_address_and_worker_count_select_dask():
    from prefect_dask import DaskTaskRunner

    assert runner_choice({"OLIST_DASK_ADDRESS": "tcp://10.0.0.5:8786"}).address == "tcp://10.0.0.5:8786"
    assert runner_choice({"OLIST_DASK_WORKERS": " 3 "}).workers == 3
    assert isinstance(task_runner({"OLIST_DASK_WORKERS": "2"}), DaskTaskRunner)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"OLIST_DASK_WORKERS": "0"}, "OLIST_DASK_WORKERS must be a whole number >= 1, got '0'"),
        ({"OLIST_DASK_WORKERS": "two"}, "OLIST_DASK_WORKERS must be a whole number >= 1, got 'two'"),
        ({"OLIST_DASK_ADDRESS": "scheduler:8786"}, "OLIST_DASK_ADDRESS must be a Dask scheduler address"),
        ({"OLIST_DASK_ADDRESS": "tcp://h:1", "OLIST_DASK_WORKERS": "2"}, "not both"),
    ],
)
def test_bad_runner_variables_are_one_readable_error(environ, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        runner_choice(environ)


CLUSTER = {"n_workers": 1, "processes": True, "threads_per_worker": 1, "dashboard_address": None}


def in_worker(client, expression: str):
    """The value of a Python expression evaluated in the cluster's worker process."""
    return client.submit(eval, expression, pure=False).result(timeout=120)


@pytest.mark.slow
def test_local_workers_fork_preloaded_and_see_the_environment_of_their_run(monkeypatch):
    """OLIST_DASK_WORKERS's cluster: workers come from a forkserver that imported what the table
    tasks need (a spawned worker would start without it), and each cluster's workers see the
    environment of the moment it started, not the forkserver's (set at the first cluster)."""
    from distributed import Client

    from olist_etl.runner import local_cluster

    monkeypatch.setenv("OLIST_RUNNER_PROBE", "first")
    with local_cluster(**CLUSTER) as cluster, Client(cluster) as client:
        assert in_worker(client, "__import__('multiprocessing').current_process().name") != "MainProcess"
        assert in_worker(client, "__import__('os').environ.get('OLIST_RUNNER_PROBE')") == "first"
        preloaded = in_worker(client, "[m for m in ('great_expectations', 'prefect', 'olist_etl.gates.staged') if m in __import__('sys').modules]")
        assert preloaded == ["great_expectations", "prefect", "olist_etl.gates.staged"]
        first_parent = in_worker(client, "__import__('os').getppid()")

    monkeypatch.setenv("OLIST_RUNNER_PROBE", "second")
    with local_cluster(**CLUSTER) as cluster, Client(cluster) as client:
        assert in_worker(client, "__import__('os').environ.get('OLIST_RUNNER_PROBE')") == "second"
        # The same forkserver forked both clusters' workers: it is started once per process.
        assert in_worker(client, "__import__('os').getppid()") == first_parent


@pytest.mark.both_runners
def test_the_flow_runs_on_the_runner_the_environment_selects():
    """In run.py's second pass (OLIST_DASK_WORKERS=2) every sync of the process is on Dask; without
    the variable, on the default runner. Fails if that pass stopped selecting Dask."""
    import os

    from prefect_dask import DaskTaskRunner

    from flows.olist_sync import olist_sync

    if os.environ.get("OLIST_DASK_WORKERS"):
        assert isinstance(olist_sync.task_runner, DaskTaskRunner), olist_sync.task_runner
        assert olist_sync.task_runner.cluster_kwargs["n_workers"] == int(os.environ["OLIST_DASK_WORKERS"])
    else:
        assert not isinstance(olist_sync.task_runner, DaskTaskRunner), olist_sync.task_runner


# --- a real cluster -----------------------------------------------------------------------------

def warehouse_checksums(url: str) -> dict[str, dict[str, tuple[int, int]]]:
    """Per table, {bucket: (rows, 60-bit row-hash sum)} of the warehouse mirror, computed in PostgreSQL."""
    engine = sa.create_engine(url)
    try:
        out = {}
        for table in TABLE_NAMES:
            side = make_side("warehouse", PostgresDialect(), get_table(table), engine)
            out[table] = {row[0]: (int(row[1]), int(row[2])) for row in side.fetch(side.bucket_sql(BUCKET_DIGITS))}
        return out
    finally:
        engine.dispose()


def star_counts(url: str) -> dict[str, int]:
    """Rows of every star-schema table, SCD2 history and deleted rows included."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text(
                "select table_name from information_schema.tables where table_schema = 'user_access_layer' and table_type = 'BASE TABLE'"
            )).scalars().all()
            return {n: conn.execute(sa.text(f'select count(*) from user_access_layer."{n}"')).scalar_one() for n in sorted(names)}
    finally:
        engine.dispose()


def assert_same_as_source(source_url: str, warehouse_url: str) -> None:
    source, warehouse = sa.create_engine(source_url), sa.create_engine(warehouse_url)
    try:
        differing = {t: d.to_dict(limit=3) for t in TABLE_NAMES if not (d := compare_table(source, warehouse, t, max_keys=10)).equal}
    finally:
        source.dispose()
        warehouse.dispose()
    assert not differing, differing


def prefect_records(flow_run_ids: list) -> str:
    """Everything the Prefect API keeps about the runs: flow-run parameters, task runs, logs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    async def read() -> str:
        async with get_client() as client:
            texts = []
            for run_id in flow_run_ids:
                run = await client.read_flow_run(run_id)
                texts.append(run.model_dump_json())
            flows = FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
            texts += [t.model_dump_json() for t in await client.read_task_runs(flow_run_filter=flows, limit=200)]
            log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids))
            logs: list[str] = []
            while page := await client.read_logs(log_filter=log_filter, limit=200, offset=len(logs)):  # the API's page size
                logs += [log.model_dump_json() for log in page]
            assert logs, "the syncs logged nothing: the filter is wrong"
            texts += logs
            return "\n".join(texts)

    return asyncio.run(read())


@pytest.fixture
def password_source(mariadb_url):
    """The test database, readable by a user with a password: (admin URL, the sync's URL)."""
    admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    user = unique_name("dask")[:30]
    database = sa.engine.make_url(mariadb_url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f"create user '{user}'@'%' identified by '{SOURCE_PASSWORD}'"))
        conn.execute(sa.text(f"grant select on `{database}`.* to '{user}'@'%'"))
    try:
        yield mariadb_url, f"mysql+pymysql://{user}:{SOURCE_PASSWORD}@127.0.0.1:3306/{database}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"drop user if exists '{user}'@'%'"))
        admin.dispose()


@pytest.mark.integration
@pytest.mark.slow
def test_full_and_incremental_sync_on_dask_match_the_default_runner(password_source, postgres_url, olist_home, tmp_path, monkeypatch, prefect_api):
    from distributed import Client, LocalCluster, get_task_stream

    from flows.olist_sync import with_selected_runner
    from olist_etl.app.cli import main

    admin_url, sync_url = password_source
    for name in ("OLIST_DASK_ADDRESS", "OLIST_DASK_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLIST_HOME", str(olist_home))
    monkeypatch.setenv("OLIST_STAGING_URL", (tmp_path / "staging").as_uri())
    monkeypatch.setenv("OLIST_PART_ROWS", "700")  # several parts per big table
    monkeypatch.setenv("OLIST_SOURCE_URL", admin_url)
    assert main(["seed-source", "--scale", "0.01", "--seed", "31"]) == 0

    def sync(mode: str, warehouse_url: str) -> dict:
        monkeypatch.setenv("OLIST_SOURCE_URL", sync_url)
        monkeypatch.setenv("OLIST_WAREHOUSE_URL", warehouse_url)
        state = with_selected_runner()(mode=mode, return_state=True)
        assert state.is_completed(), state.message
        flow_runs.append(state.state_details.flow_run_id)
        return state.result()

    flow_runs: list = []
    with postgres_database() as dask_url:
        default = sync("full", postgres_url)

        # The full sync on a cluster this test starts: two worker processes, one thread each.
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            monkeypatch.setenv("OLIST_DASK_ADDRESS", cluster.scheduler_address)
            with get_task_stream(client=client) as stream:
                on_dask = sync("full", dask_url)
            monkeypatch.delenv("OLIST_DASK_ADDRESS")
        ran = [task["key"] for task in stream.data]
        # Every table's extract and load ran on the cluster, not in the flow's process.
        assert len(ran) >= 2 * len(TABLE_NAMES), ran

        assert on_dask["tables"] == default["tables"]
        assert warehouse_checksums(dask_url) == warehouse_checksums(postgres_url)
        assert star_counts(dask_url) == star_counts(postgres_url)
        assert_same_as_source(admin_url, dask_url)

        monkeypatch.setenv("OLIST_SOURCE_URL", admin_url)
        assert main(["simulate-changes", "--seed", "32", "--fraction", "0.05"]) == 0

        default_incremental = sync("incremental", postgres_url)
        monkeypatch.setenv("OLIST_DASK_WORKERS", "2")  # a local cluster the runner starts and closes
        dask_incremental = sync("incremental", dask_url)
        monkeypatch.delenv("OLIST_DASK_WORKERS")

        assert dask_incremental["tables"] == default_incremental["tables"]
        assert 0 < dask_incremental["tables"]["orders"]["extracted"] < on_dask["tables"]["orders"]["extracted"]
        checksums = warehouse_checksums(dask_url)
        assert checksums == warehouse_checksums(postgres_url)
        assert star_counts(dask_url) == star_counts(postgres_url)
        assert_same_as_source(admin_url, dask_url)

        # The check can fail: one changed row in B shows in its checksums.
        engine = sa.create_engine(dask_url)
        with engine.begin() as conn:
            conn.execute(sa.text(
                "update user_access_layer.dim_seller set seller_city = seller_city || 'x'"
                " where seller_id = (select min(seller_id) from user_access_layer.dim_seller where is_current)"
            ))
        engine.dispose()
        assert warehouse_checksums(dask_url)["sellers"] != checksums["sellers"]

    # The password reached the workers inside the pickled task calls, never the Prefect API.
    stored = prefect_records(flow_runs)
    assert "task_inputs" in stored and "extract-" in stored  # the records were read
    assert SOURCE_PASSWORD not in stored
