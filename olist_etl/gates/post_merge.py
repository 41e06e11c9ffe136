"""The post-merge suite, run by GX on promote's own connection before COMMIT.

expectations/post_merge/star_schema.json holds UnexpectedRowCountExpectations (gates.expectations) about the star schema
(user_access_layer), each restricted to this run's keys. They must see the merge's uncommitted rows,
so GX's engine runs on the promote transaction's connection (gates.datasources.borrowed_connection);
raising GateFailed inside `engine.begin()` rolls the merge, the watermarks and the run record back
together.

Each query's `{batch}` is its meta.table, filled in when the suite is built: the expectations are
about nine tables, and one validation (one query round per expectation) keeps the time the promote
holds its locks short, where one batch per table would render nine pages inside the transaction.
"""

from __future__ import annotations

import copy
import time
from datetime import datetime, timezone

from olist_etl.gates import suites as suite_files
from olist_etl.gates.datasources import borrowed_connection
from olist_etl.gates.delta import rows_sampler
from olist_etl.gates.docs import gx_context, run_validation
from olist_etl.gates.results import GateResult, finish_gate, from_validation, gx_error
from olist_etl.settings import Settings
from olist_etl.tables import quote_ident

GATE_NAME = "gate-post-merge"
TARGET_SCHEMA = "user_access_layer"
# Every check names its tables itself; the batch GX needs is one row of nothing.
_BATCH_QUERY = "select 1 as post_merge"


def post_merge_document() -> dict:
    return suite_files.load_document("post_merge", suite_files.POST_MERGE_SUITE)


# GX prints "unexpected_rows_query should contain the {batch} parameter" on stdout each time it
# builds such an expectation (a sync builds each several times): alarming noise for a query that
# names its tables on purpose. The placeholder it looks for is kept in a trailing SQL comment.
_BATCH_COMMENT = "\n/* GX batch, not read: {batch} */"


def bind_tables(document: dict) -> dict:
    """The suite with each query's {batch} replaced by its meta.table in user_access_layer."""
    bound = copy.deepcopy(document)
    for entry in bound["expectations"]:
        table = f"{quote_ident(TARGET_SCHEMA)}.{quote_ident(entry['meta']['table'])}"
        entry["kwargs"]["unexpected_rows_query"] = entry["kwargs"]["unexpected_rows_query"].replace("{batch}", table) + _BATCH_COMMENT
    return bound


def check_star_schema(conn, settings: Settings, run_id: str, document: dict | None = None) -> GateResult:
    """Validate the uncommitted star schema on `conn`; raises GateFailed on a critical failure."""
    started = time.perf_counter()
    document = post_merge_document() if document is None else document
    suite = suite_files.suite_from_dict(bind_tables(document))
    expected = len(suite.expectations)
    result = GateResult(name=GATE_NAME, success=False)
    try:
        context = gx_context(settings)
        with borrowed_connection(context, "promote", conn) as datasource:
            asset = datasource.add_query_asset(name="star_schema", query=_BATCH_QUERY)
            validation = run_validation(
                context, gate=GATE_NAME, table="star_schema", run_id=run_id, run_time=datetime.now(timezone.utc),
                batch_definition=asset.add_batch_definition_whole_table("whole"), suite=suite,
            )
            summary, failures = from_validation(TARGET_SCHEMA, suite.name, validation, expected, settings, sample=rows_sampler(datasource, ""))
    except Exception as err:
        failure = gx_error(TARGET_SCHEMA, err, settings)
        summary, failures = {"table": TARGET_SCHEMA, "success": False, "error": failure.error}, [failure]
    result.results.append(summary)
    result.failed_expectations.extend(failures)
    return finish_gate(settings, run_id, result, seconds=time.perf_counter() - started)
