"""Gate 2: GX validates this run's delta tables (staging_layer.*) before promotion.

The suites are expectations/delta/<table>.json. Every check runs as SQL in the warehouse (GX's
SQL execution engine and UnexpectedRowsExpectation queries); only counts and a few sample values
come back, so memory does not grow with the delta.

Reconciliation: each suite's expect_table_row_count_to_equal takes the suite parameter
`manifest_rows`, the table's row count in the run's manifest (net of the malformed rows gate 1
allowed and dropped), so rows loaded must equal rows extracted.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from olist_etl.gates import suites as suite_files
from olist_etl.gates.datasources import add_sql
from olist_etl.gates.docs import VALIDATION_WORKERS, gx_context, run_validation
from olist_etl.gates.results import SAMPLE_SIZE, GateFailure, GateResult, finish_gate, from_validation, gx_error
from olist_etl.manifest import RunManifest
from olist_etl.settings import Settings
from olist_etl.tables import get_table, quote_ident

if TYPE_CHECKING:
    import great_expectations as gx

GATE_NAME = "gate-delta-tables"
STAGING_SCHEMA = "staging_layer"
_DATASOURCE_NAME = "warehouse"


def run_delta_gate(
    settings: Settings,
    manifest: RunManifest,
    tables: Iterable[str] | None = None,
    *,
    suites: dict[str, "gx.ExpectationSuite"] | None = None,
) -> GateResult:
    """The gate's work, callable without Prefect. `suites` replaces the versioned suite of a table."""
    tables = list(manifest.tables) if tables is None else list(tables)
    for table in tables:
        get_table(table)  # an unknown name is a caller bug, not a data failure
    missing = [t for t in tables if t not in manifest.tables]
    if missing:
        raise ValueError(f"run {manifest.run_id}: the manifest has no entry for {', '.join(missing)}; rows loaded cannot be reconciled")
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    started = time.perf_counter()
    run_time = datetime.now(timezone.utc)
    result = GateResult(name=GATE_NAME, success=False)
    jobs = [(table, suites[table] if suites and table in suites else suite_files.load_suite("delta", table),
             {"manifest_rows": manifest.tables[table].rows}) for table in tables]
    # Tables validate concurrently, as in gate 1.
    with ThreadPoolExecutor(max_workers=VALIDATION_WORKERS) as pool:
        outcomes = list(pool.map(lambda job: _validate_table(settings, manifest.run_id, run_time, *job),
                                 sorted(jobs, key=lambda job: -manifest.tables[job[0]].rows)))
    by_table = {summary["table"]: (summary, failures) for summary, failures in outcomes}
    for table in tables:  # reported in the caller's order
        summary, failures = by_table[table]
        result.results.append(summary)
        result.failed_expectations.extend(failures)
    return finish_gate(settings, manifest.run_id, result, seconds=time.perf_counter() - started)


def _validate_table(settings: Settings, run_id: str, run_time: datetime, table: str, suite, parameters: dict) -> tuple[dict, list[GateFailure]]:
    """Validate one delta table; any GX exception becomes a gx_error failure for that table."""
    datasource = None
    try:
        context = gx_context(settings)
        datasource = add_sql(context, _DATASOURCE_NAME, settings.warehouse_url)
        expected = len(suite.expectations)
        asset = datasource.add_table_asset(name=table, table_name=table, schema_name=STAGING_SCHEMA)
        validation = run_validation(
            context, gate=GATE_NAME, table=table, run_id=run_id, run_time=run_time,
            batch_definition=asset.add_batch_definition_whole_table("whole-table"), suite=suite,
            expectation_parameters=parameters,
        )
        batch = f"(select * from {quote_ident(STAGING_SCHEMA)}.{quote_ident(table)}) as subselect"
        return from_validation(table, suite.name, validation, expected, settings, sample=rows_sampler(datasource, batch))
    except Exception as err:
        failure = gx_error(table, err, settings)
        return {"table": table, "success": False, "error": failure.error}, [failure]
    finally:
        if datasource is not None:
            datasource.get_engine().dispose()


def rows_sampler(datasource, batch: str):
    """A few rows of an UnexpectedRowsExpectation's query; COMPLETE format would make every column
    check fetch all its unexpected values, re-running the query with a LIMIT stays bounded."""
    import sqlalchemy as sa

    def sample(configuration, _result) -> list:
        query = configuration.kwargs.get("unexpected_rows_query")
        if not query:
            return []
        statement = sa.text(f"select * from ({query.format(batch=batch)}) as unexpected limit {SAMPLE_SIZE}")
        with datasource.get_engine().connect() as conn:
            return [dict(row._mapping) for row in conn.execute(statement)]

    return sample
