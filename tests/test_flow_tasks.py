"""How the flow's tasks present themselves in Prefect: names per table, retries with backoff only
on I/O, and progress artifacts per table that a real flow run drives to 100."""

from __future__ import annotations

import pytest

from olist_etl.tables import TABLE_NAMES


def test_task_runs_name_their_table_and_io_tasks_retry_with_backoff():
    from tasks.extract import extract_purchase_range, extract_table
    from tasks.load import load_table
    from tasks.stage import write_manifest

    assert extract_table.task_run_name == "extract-{table}"
    assert extract_purchase_range.task_run_name == "backfill-{table}"
    assert load_table.task_run_name == "load-{table}"
    # Source reads and S3 writes back off: each delay longer than the one before.
    for io_task in (extract_table, extract_purchase_range, write_manifest):
        delays = io_task.retry_delay_seconds
        assert io_task.retries >= 2 and len(delays) == io_task.retries, io_task.name
        assert all(b > a > 0 for a, b in zip(delays, delays[1:])), (io_task.name, delays)
    assert load_table.retries > 0


def test_gates_never_retry():
    from tasks.gates import validate_delta_tables, validate_source_columns, validate_staged_parts
    from tasks.merge import promote

    # A gate that failed will fail again on the same data: a retry only delays the blocked run.
    for gate in (validate_source_columns, validate_staged_parts, validate_delta_tables, promote):
        assert gate.retries == 0, gate.name


def test_progress_outside_a_run_is_a_no_op():
    from olist_etl.progress import Progress

    progress = Progress("load", "order_items", "rows", total=10)
    progress.update(5)
    progress.finish()
    assert not progress.enabled and progress.key == "olist-load-order-items"


@pytest.mark.integration
def test_a_flow_run_drives_a_progress_artifact_per_table_and_stage_to_100(monkeypatch, olist_home, mariadb_url, postgres_url, prefect_api):
    import olist_etl.progress
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType

    from flows.olist_sync import olist_sync
    from olist_etl.app.cli import main

    env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": (olist_home / "staging").as_uri(),
        "OLIST_PART_ROWS": "300",  # several parts per big table: updates between 0 and 100
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["seed-source", "--scale", "0.01", "--seed", "3"]) == 0
    sent: dict = {}
    real_update = olist_etl.progress.update_progress_artifact

    def recording_update(artifact_id, progress, **kwargs):
        sent.setdefault(artifact_id, []).append(progress)
        return real_update(artifact_id, progress, **kwargs)

    monkeypatch.setattr(olist_etl.progress, "update_progress_artifact", recording_update)

    state = olist_sync(mode="full", return_state=True)

    assert state.is_completed(), state.message
    summary = state.result()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                type=ArtifactFilterType(any_=["progress"]),
            )
        )
    by_key = {a.key: a for a in artifacts}
    expected = {f"olist-{stage}-{t.replace('_', '-')}" for stage in ("extract", "load") for t in TABLE_NAMES}
    assert set(by_key) == expected
    assert all(float(a.data) == 100 for a in artifacts), {a.key: a.data for a in artifacts}
    assert all(a.task_run_id is not None for a in artifacts)  # shown on the table's task run
    # A table of several parts moved through intermediate values, in order, before its 100.
    orders = summary["tables"]["order_items"]["extracted"]
    assert orders > 3 * 300
    for stage in ("extract", "load"):
        values = sent[by_key[f"olist-{stage}-order-items"].id]
        assert values[-1] == 100 and len(values) > 2 and values == sorted(values), (stage, values)


def _failed_with(error: BaseException):
    from prefect.states import Failed

    return Failed(data=error)


def test_io_tasks_retry_transient_failures_only():
    from olist_etl.retrying import retry_transient_only
    from olist_etl.staging import StagingError
    from olist_etl.load import LoadError
    from tasks.extract import extract_table
    from tasks.load import load_table
    from tasks.stage import write_manifest

    for io_task in (extract_table, load_table, write_manifest):
        assert io_task.retry_condition_fn is retry_transient_only, io_task.name
    # Another attempt can fix a dropped connection or S3's 503; it cannot fix a missing bucket,
    # a refused request or a staged file that disagrees with its manifest.
    assert retry_transient_only(None, None, _failed_with(ConnectionResetError("reset by peer")))
    assert retry_transient_only(None, None, _failed_with(StagingError("503 SlowDown", transient=True)))
    assert not retry_transient_only(None, None, _failed_with(StagingError("NoSuchBucket", transient=False)))
    assert not retry_transient_only(None, None, _failed_with(LoadError("loaded 3 rows but the manifest lists 4")))
    assert not retry_transient_only(None, None, _failed_with(ValueError("bad mode")))
