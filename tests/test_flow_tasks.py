"""How the flow's tasks present themselves in Prefect: names per table, retries only on I/O."""

from __future__ import annotations


def test_task_runs_name_their_table_and_only_io_tasks_retry():
    from tasks.extract import extract_table
    from tasks.load import load_table
    from tasks.merge import promote
    from tasks.validate import validate_delta_tables

    assert extract_table.task_run_name == "extract-{table}"
    assert load_table.task_run_name == "load-{table}"
    assert extract_table.retries > 0 and load_table.retries > 0
    assert promote.retries == 0 and validate_delta_tables.retries == 0
