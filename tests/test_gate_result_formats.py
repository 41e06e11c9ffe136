"""run_validation's two result formats, on GX's SQL engine (SQLite, no server needed).

A passing validation runs once without samples: GX's sample query (one scan per map expectation)
must not run, while every count and observed value stays exact, `mostly` included. A validation
with a failure runs again with samples, so its failures and its page show the offending values,
and the run's page list names its page once.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import pytest

from olist_etl.gates import docs
from olist_etl.gates.datasources import add_sql
from olist_etl.gates.results import from_validation
from olist_etl.settings import SecretUrl
from tests.support.services import make_settings

ROWS = 200
BAD_STATUS = "lost<svg>"
RUN_ID = "20261202T000000Z-formats"


@pytest.fixture
def batch(tmp_path):
    """A SQLite table: 200 orders, 3 with an unknown status, 1 with a NULL amount when asked."""

    def make(*, null_amount: bool):
        path = tmp_path / ("null.db" if null_amount else "clean.db")
        with sqlite3.connect(path) as conn:
            conn.execute("create table orders (id integer, status text, amount real)")
            rows = [(i, BAD_STATUS if i < 3 else "delivered", None if null_amount and i == 7 else float(i)) for i in range(ROWS)]
            conn.executemany("insert into orders values (?, ?, ?)", rows)
        return f"sqlite:///{path}"

    return make


def validate(settings, url: str, table: str, expectations: list | None = None):
    """One gate-style validation with the gates' suite shape (or `expectations`); the statements GX executed."""
    import great_expectations as gx
    import sqlalchemy as sa

    context = docs.gx_context(settings)
    datasource = add_sql(context, "formats", SecretUrl(url), connect_args={})
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if conn.engine.url.database == sa.make_url(url).database:
            statements.append((statement, parameters))

    # On the Engine class: GX's execution engine builds engines of its own from the datasource.
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    suite = gx.ExpectationSuite(name=f"delta.{table}", expectations=expectations or [
        gx.expectations.ExpectColumnValuesToNotBeNull(column="amount"),
        gx.expectations.ExpectColumnValuesToBeInSet(column="status", value_set=["delivered"], mostly=0.9),
        gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=ROWS),
        gx.expectations.ExpectColumnMaxToBeBetween(column="id", min_value=0, max_value=ROWS),
        gx.expectations.ExpectTableRowCountToEqual(value=ROWS),
    ])
    asset = datasource.add_table_asset(name="orders", table_name="orders")
    try:
        validation = docs.run_validation(
            context, gate="gate-formats", table=table, run_id=RUN_ID, run_time=datetime(2026, 12, 2, tzinfo=timezone.utc),
            batch_definition=asset.add_batch_definition_whole_table("whole"), suite=suite,
        )
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
        datasource.get_engine().dispose()
    assert any("count(" in statement.lower() for statement, _ in statements), "the statement recorder saw no validation query"
    summary, failures = from_validation(table, f"delta.{table}", validation, len(suite.expectations), settings)
    return summary, failures, statements


def sample_queries(statements) -> list[str]:
    """Filtered statements with a LIMIT above 0: GX's unexpected-values (sample) queries (its
    probe that the table exists, `SELECT 1 FROM t LIMIT 1`, has no WHERE)."""
    found = []
    for statement, parameters in statements:
        if "LIMIT" not in statement.upper() or "WHERE" not in statement.upper():
            continue
        limits = [int(p) for p in (parameters if isinstance(parameters, (list, tuple)) else parameters.values()) if isinstance(p, int)]
        literal = re.findall(r"LIMIT\s+(\d+)", statement, re.IGNORECASE)
        if any(n > 0 for n in limits + [int(x) for x in literal]):
            found.append(statement)
    return found


def pages_listed(settings) -> list[dict]:
    path = docs.docs_dir(settings) / docs.RUNS_DIR / f"{RUN_ID}.pages.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_type(summary: dict) -> dict[str, dict]:
    return {e["expectation"]: e for e in summary["expectations"]}


def test_a_passing_validation_runs_no_sample_query_and_keeps_exact_counts(tmp_path, batch):
    settings = make_settings(tmp_path / "home", source_url="sqlite://", warehouse_url=None)

    summary, failures, statements = validate(settings, batch(null_amount=False), "clean")

    assert summary["success"] and failures == []
    assert sample_queries(statements) == []
    results = by_type(summary)
    assert results["expect_column_values_to_be_in_set"]["unexpected_count"] == 3  # passes through mostly
    assert results["expect_column_values_to_not_be_null"]["unexpected_count"] == 0
    assert results["expect_column_values_to_be_between"]["element_count"] == ROWS
    assert results["expect_column_max_to_be_between"]["observed_value"] == ROWS - 1
    assert results["expect_table_row_count_to_equal"]["observed_value"] == ROWS
    assert [p["table"] for p in pages_listed(settings)] == ["clean"]


def test_a_failed_validation_runs_again_with_samples_and_lists_its_page_once(tmp_path, batch):
    settings = make_settings(tmp_path / "home", source_url="sqlite://", warehouse_url=None)

    summary, failures, statements = validate(settings, batch(null_amount=True), "nulls")

    assert not summary["success"]
    assert [(f.expectation, f.unexpected_count, f.sample_values) for f in failures] == [("expect_column_values_to_not_be_null", 1, [None])]
    assert sample_queries(statements), "the failed validation's second run must fetch samples"
    listed = pages_listed(settings)
    assert [(p["table"], p["success"]) for p in listed] == [("nulls", False)]
    page = (docs.docs_dir(settings) / Path(urllib.parse.unquote(listed[0]["page"]))).read_text(encoding="utf-8")
    # The in-set expectation passed through mostly; its sample is on the page, escaped.
    assert "lost&lt;svg&gt;" in page and BAD_STATUS not in page


def test_the_row_count_expectation_runs_its_query_once_where_gx_own_runs_it_twice(tmp_path, batch):
    import great_expectations as gx

    from olist_etl.gates.expectations import UnexpectedRowCountExpectation

    settings = make_settings(tmp_path / "home", source_url="sqlite://", warehouse_url=None)
    query = "select id, status from {batch} where status <> 'delivered'"
    url = batch(null_amount=False)

    ours = validate(settings, url, "ours", [UnexpectedRowCountExpectation(unexpected_rows_query=query)])
    theirs = validate(settings, url, "theirs", [gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=query)])

    # Same verdict and count from both (3 unknown statuses); ours reads the query once, as a count.
    for summary, failures, _statements in (ours, theirs):
        assert not summary["success"] and [f.unexpected_count for f in failures] == [3]
    runs = {name: [s for s, _ in statements if "status <> 'delivered'" in s] for name, (_, _, statements) in (("ours", ours), ("theirs", theirs))}
    assert len(runs["theirs"]) == 2 * len(runs["ours"])  # the failed validation runs twice (samples)
    assert all("COUNT(*)" in s for s in runs["ours"]) and not all("COUNT(*)" in s for s in runs["theirs"])
