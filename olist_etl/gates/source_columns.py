"""gate-source-columns: before extracting, GX checks every source table's live columns.

The staged suites' `checked_on: source` expectations (expect_table_columns_to_match_set): the
extract selects the catalog's columns by name, so a dropped column would fail it with a SQL error
and an added one would be silently left behind; checked first, both are named. GX's pandas engine
evaluates them on an empty DataFrame with the table's live columns, read from the source's
catalog: a batch over the table itself would make GX query it (its asset test selects a row),
and a table another session holds locked would stall the sync before the extract. The source type contract and key uniqueness (olist_etl/source/contract.py) follow, one
result entry per table.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timezone

import pandas as pd
import sqlalchemy as sa

from olist_etl.db import dialect_of, source_engine
from olist_etl.gates import suites as suite_files
from olist_etl.gates.docs import gx_context, run_validation
from olist_etl.gates.results import GateFailure, GateResult, finish_gate, from_validation, gx_error
from olist_etl.settings import Settings
from olist_etl.source import contract
from olist_etl.tables import TABLE_NAMES, UPDATED_AT, get_table

GATE_NAME = "gate-source-columns"


def source_suite(table: str, live_columns: list[str]) -> dict:
    """The table's source expectations; a table without updated_at is allowed (full extracts only:
    the contract reports it as a warning), so it is then not expected of it."""
    document = suite_files.load_document("staged", table)
    selected = copy.deepcopy(suite_files.entries(document, "source"))
    if live_columns and UPDATED_AT not in live_columns:
        for entry in selected:
            if "column_set" in entry["kwargs"]:
                entry["kwargs"]["column_set"] = [c for c in entry["kwargs"]["column_set"] if c != UPDATED_AT]
    return suite_files.subsuite(document, f"source.{table}", selected)


def run_source_columns_gate(settings: Settings, run_id: str) -> GateResult:
    started = time.perf_counter()
    # Text capacity differs between the warehouses; an unresolved URL is the embedded PostgreSQL.
    warehouse = dialect_of(settings.warehouse_url) if settings.warehouse_url is not None else "postgresql"
    run_time = datetime.now(timezone.utc)
    result = GateResult(name=GATE_NAME, success=False)
    engine = source_engine(settings)
    try:
        context = gx_context(settings)
        datasource = context.data_sources.add_pandas("source_catalog")
        inspector = sa.inspect(engine)
        with engine.connect() as conn:
            for table in TABLE_NAMES:
                try:
                    live = [c["name"] for c in inspector.get_columns(table)]
                except sa.exc.NoSuchTableError:
                    live = []
                summary, failures = _validate_columns(context, datasource, settings, run_id, run_time, table, live)
                types = contract.read_column_types(conn, table)
                if types:
                    spec = get_table(table)
                    checks = contract.type_checks(conn, spec, types, warehouse) + contract.key_checks(conn, spec, types)
                    summary["expectations"] = summary.get("expectations", []) + [c.summary() for c in checks]
                    failures += [c.failure() for c in checks if c.unexpected]
                summary["success"] = not any(f.critical for f in failures)
                result.results.append(summary)
                result.failed_expectations.extend(failures)
    finally:
        engine.dispose()
    return finish_gate(settings, run_id, result, seconds=time.perf_counter() - started)


def _validate_columns(context, datasource, settings: Settings, run_id: str, run_time: datetime, table: str, live: list[str]) -> tuple[dict, list[GateFailure]]:
    document = source_suite(table, live)
    suite = suite_files.suite_from_dict(document)
    try:
        asset = datasource.add_dataframe_asset(name=table)
        validation = run_validation(
            context, gate=GATE_NAME, table=table, run_id=run_id, run_time=run_time,
            batch_definition=asset.add_batch_definition_whole_dataframe("catalog"), suite=suite,
            batch_parameters={"dataframe": pd.DataFrame(columns=live)},
        )
    except Exception as err:
        failure = gx_error(table, err, settings)
        return {"table": table, "suite": document["name"], "success": False, "error": failure.error}, [failure]
    summary, failures = from_validation(table, suite.name, validation, len(suite.expectations), settings)
    for failure in failures:
        _name_drift(failure, validation)
    return summary, failures


def _name_drift(failure: GateFailure, validation) -> None:
    """GX's details list the missing and added columns; the failure's samples name them."""
    for item in validation.results:
        details = (item.result or {}).get("details") or {}
        mismatched = details.get("mismatched") or {}
        if item.expectation_config.type == failure.expectation and mismatched:
            failure.sample_values = [f"missing: {c}" for c in mismatched.get("missing") or []] + [
                f"added: {c}" for c in mismatched.get("unexpected") or []]
            failure.unexpected_count = len(failure.sample_values)
