"""Plausibility of dates: each implausible value is injected into the seeded MariaDB source after a
promoted full sync, and the next sync must be blocked at the expected gate naming the table,
column, value and reason, with the star schema, watermarks and run log unchanged and the batch
quarantined; a warning-only case promotes with the warning reported. dim_date is a fixed calendar
(2015-01-01 .. 2035-12-31) that no outlier grows.

One seeded source and one promoted full sync are shared by the module (a sync costs seconds);
every case undoes its injection. The lookback is 0 so an incremental run extracts only what a
case changed. Staging is a local folder: S3 is covered by test_bad_inputs.py.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date, datetime, timedelta
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa

from olist_etl.resources import resource_dir
from olist_etl.sqlfiles import render, statements
from olist_etl.staging import open_staging
from olist_etl.gates.results import GateFailure, describe_failure
from tests.support.services import mariadb_database, postgres_database
from tests.support import pipeline as pipeline_support
from tests.support.pipeline import cli, cli_json_err
from tests.support.tables import assert_tables_unchanged, table_checksums

pytestmark = pytest.mark.integration

FIRST_DAY, LAST_DAY = date(2015, 1, 1), date(2035, 12, 31)
CALENDAR_DAYS = (LAST_DAY - FIRST_DAY).days + 1  # 7,670
FLOOR, HORIZON = "2015-01-01 00:00:00", "2036-01-01 00:00:00"  # as the suites write them (max strict)
STAGED, DELTA = "gate-staged-parts", "gate-delta-tables"
BETWEEN, PAIR, ROWS = "expect_column_values_to_be_between", "expect_column_pair_values_a_to_be_greater_than_b", "unexpected_row_count_expectation"


class Pipeline(pipeline_support.Pipeline):
    def calendar(self) -> tuple[int, date, date]:
        with self.warehouse.connect() as conn:
            return tuple(conn.execute(sa.text("select count(*), min(calendar_date), max(calendar_date) from user_access_layer.dim_date")).one())


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, prefect_api) -> Iterator[Pipeline]:
    home = tmp_path_factory.mktemp("plausibility") / "home"
    home.mkdir()
    with mariadb_database() as source_url, postgres_database() as warehouse_url:
        with pytest.MonkeyPatch.context() as mp:
            env = {
                "OLIST_HOME": str(home),
                "OLIST_SOURCE_URL": source_url,
                "OLIST_WAREHOUSE_URL": warehouse_url,
                "OLIST_STAGING_URL": (home / "staging").as_uri(),
                "OLIST_LOOKBACK_MINUTES": "0",
                "OLIST_PART_ROWS": "400",
            }
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("OLIST_MAX_REJECTED_ROWS", raising=False)
            code, _, err = cli("seed-source", "--scale", "0.01", "--seed", "5")
            assert code == 0, err[-2000:]
            code, full, err = cli_json_err("sync", "--mode", "full", "--json")
            assert code == 0 and full["status"] == "promoted", (full, err[-2000:])
            pipe = Pipeline(env)
            try:
                yield pipe
            finally:
                pipe.source.dispose()
                pipe.warehouse.dispose()


def suite_entries(folder: str, table: str, expectation: str, column) -> list[dict]:
    """The versioned suite's entries of this type on this column, to compare reported reasons with."""
    document = json.loads((resource_dir("expectations") / folder / f"{table}.json").read_text(encoding="utf-8"))
    matches = []
    for entry in document["expectations"]:
        kw, meta = entry["kwargs"], entry["meta"]
        named = kw.get("column") or meta.get("column") or ([kw["column_A"], kw["column_B"]] if "column_A" in kw else None)
        if entry["type"] == expectation and named == column:
            matches.append(entry)
    return matches


# --- injections: each changes one source row and yields, then restores it ------------------------

DELIVERED = (
    "select order_id, order_purchase_timestamp as purchased, order_approved_at as approved, order_delivered_carrier_date as carrier,"
    " order_delivered_customer_date as delivered, order_estimated_delivery_date as estimated from orders"
    " where order_status = 'delivered' and order_approved_at is not null and order_delivered_carrier_date is not null"
    " and order_delivered_customer_date is not null {extra} order by order_id limit 1"
)
ORDER_COLUMNS = {"purchased": "order_purchase_timestamp", "approved": "order_approved_at", "carrier": "order_delivered_carrier_date",
                 "delivered": "order_delivered_customer_date", "estimated": "order_estimated_delivery_date"}


def order_dates(change: Callable[[sa.Row], dict], extra: str = ""):
    """Set some of a delivered order's dates (by alias in ORDER_COLUMNS) from its current ones."""

    @contextlib.contextmanager
    def inject(p: Pipeline):
        row = p.one(DELIVERED.format(extra=extra))
        values = change(row)
        sets = ", ".join(f"{ORDER_COLUMNS[k]} = :{k}" for k in values)
        p.execute(f"update orders set {sets} where order_id = :o", o=row.order_id, **values)
        yield row.order_id
        p.execute(f"update orders set {sets} where order_id = :o", o=row.order_id, **{k: getattr(row, k) for k in values})

    return inject


def one_value(table: str, column: str, key: tuple[str, ...], value):
    @contextlib.contextmanager
    def inject(p: Pipeline):
        keys = ", ".join(key)
        row = p.one(f"select {keys}, {column} from {table} where {column} is not null order by {keys} limit 1")
        where = " and ".join(f"{k} = :k{i}" for i, k in enumerate(key))
        bound = {f"k{i}": row[i] for i in range(len(key))}
        p.execute(f"update {table} set {column} = :v where {where}", v=value, **bound)
        yield
        p.execute(f"update {table} set {column} = :v where {where}", v=row[len(key)], **bound)

    return inject


IN_A_YEAR = (datetime.now() + timedelta(days=400)).replace(microsecond=0)  # after any run today, inside the calendar

# case: (injection, gate, table, expectation, column, text the sample values show, words of the reason)
BLOCKED: dict[str, tuple] = {
    "purchase in 1970": (
        one_value("orders", "order_purchase_timestamp", ("order_id",), "1970-01-01 00:00:00"),
        STAGED, "orders", BETWEEN, "order_purchase_timestamp", "1970-01-01", "predates the business"),
    "delivered to the customer in 2099": (
        order_dates(lambda r: {"delivered": datetime(2099, 3, 1, 12)}),
        STAGED, "orders", BETWEEN, "order_delivered_customer_date", "2099-03-01", "dim_date's fixed calendar"),
    "delivered before purchased": (
        order_dates(lambda r: {"delivered": r.purchased - timedelta(days=1)}),
        STAGED, "orders", PAIR, ["order_delivered_customer_date", "order_purchase_timestamp"], None, "negative days"),
    "estimated delivery before the purchase": (
        order_dates(lambda r: {"estimated": datetime.combine(r.purchased.date() - timedelta(days=2), datetime.min.time())}),
        STAGED, "orders", PAIR, ["order_estimated_delivery_date", "order_purchase_timestamp"], None, "cannot precede the purchase"),
    "estimated delivery two years after the purchase": (
        order_dates(lambda r: {"estimated": r.purchased + timedelta(days=730)}),
        DELTA, "orders", ROWS, "order_estimated_delivery_date", None, "more than a year after"),
    "estimated delivery in 2090": (
        order_dates(lambda r: {"estimated": datetime(2090, 1, 1)}),
        STAGED, "orders", BETWEEN, "order_estimated_delivery_date", "2090-01-01", "mistyped"),
    "review created in 1970": (
        one_value("order_reviews", "review_creation_date", ("review_id", "order_id"), "1970-01-01 00:00:00"),
        STAGED, "order_reviews", BETWEEN, "review_creation_date", "1970-01-01", "fact_reviews keys the review to dim_date"),
    "review answered after the run": (
        one_value("order_reviews", "review_answer_timestamp", ("review_id", "order_id"), IN_A_YEAR),
        STAGED, "order_reviews", BETWEEN, "review_answer_timestamp", IN_A_YEAR.date().isoformat(), "never in the future"),
    "review answered in 1970": (
        one_value("order_reviews", "review_answer_timestamp", ("review_id", "order_id"), "1970-01-01 00:00:00"),
        STAGED, "order_reviews", BETWEEN, "review_answer_timestamp", "1970-01-01", "predates the business"),
    "shipping limit in 1970": (
        one_value("order_items", "shipping_limit_date", ("order_id", "order_item_id"), "1970-01-01 00:00:00"),
        STAGED, "order_items", BETWEEN, "shipping_limit_date", "1970-01-01", "predates the business"),
}


@pytest.mark.parametrize("case", BLOCKED)
def test_implausible_date_blocks_at_its_gate_naming_table_column_value_and_reason(pipeline, case):
    inject, gate, table, expectation, column, shown, reason = BLOCKED[case]
    before = pipeline.state()

    with inject(pipeline):
        code, summary, _ = cli_json_err("sync", "--mode", "incremental", "--json")

    assert code == 2, summary
    assert summary["status"] == "blocked"
    failures = [(g["name"], f) for g in summary["gates"] for f in g["failed_expectations"]]
    critical = [(name, f["table"], f["expectation"], f["column"]) for name, f in failures if f["severity"] == "critical"]
    assert critical == [(gate, table, expectation, column)]
    failure = next(f for _, f in failures if f["severity"] == "critical")
    assert failure["unexpected_count"] == 1
    samples = json.dumps(failure["sample_values"], default=str)
    if shown:
        assert shown in samples, samples
    else:
        assert failure["sample_values"], failure
    # The reason reported is the versioned suite's, and it says why.
    entries = suite_entries("staged" if gate == STAGED else "delta", table, expectation, column)
    assert failure["description"] in [e["meta"]["description"] for e in entries if e["meta"]["severity"] == "critical"]
    assert reason in failure["description"]
    # The line logged and shown in the blocked message names table, column, count and value
    # (the summary holds the failure as JSON; the log line is made from the GateFailure).
    where = f"{table}.{column}" if isinstance(column, str) else f"{table}.({', '.join(column)})"
    assert describe_failure(GateFailure.from_dict(failure)).startswith(f"{where}: {expectation}, 1 unexpected, e.g. ")
    # Nothing promoted: dims, facts (dim_date included), watermarks and the run log as they were.
    after = pipeline.state()
    assert_tables_unchanged(before["star"], after["star"])
    assert (after["watermarks"], after["runs"]) == (before["watermarks"], before["runs"])
    assert pipeline.calendar() == (CALENDAR_DAYS, FIRST_DAY, LAST_DAY)
    area = open_staging(pipeline.env["OLIST_STAGING_URL"])
    kept = area.list(f"quarantine/{summary['run_id']}/")
    assert f"quarantine/{summary['run_id']}/{gate}.json" in kept
    assert any(k.endswith(".csv.gz") for k in kept)
    assert summary["quarantine"] == area.uri(f"quarantine/{summary['run_id']}")


# case: (injection, column pair warned about, the order's column that must be promoted)
WARNED: dict[str, tuple] = {
    "handed to the carrier before approval (real Olist has ~1,300)": (
        order_dates(lambda r: {"carrier": r.approved - timedelta(hours=2)}),
        ["order_delivered_carrier_date", "order_approved_at"], "order_delivered_carrier_date"),
    "delivered after purchase but before approval": (
        order_dates(lambda r: {"delivered": r.purchased + timedelta(minutes=30)}, "and order_approved_at > order_purchase_timestamp + interval 2 hour"),
        ["order_delivered_customer_date", "order_approved_at"], "order_delivered_customer_date"),
}


@pytest.mark.parametrize("case", WARNED)
def test_warning_only_date_order_promotes_with_the_warning_reported(pipeline, case):
    inject, pair, promoted_column = WARNED[case]
    before = pipeline.state()

    with inject(pipeline) as order_id:
        changed = pipeline.one(f"select order_id, {promoted_column} from orders where order_id = :o", o=order_id)
        code, summary, err = cli_json_err("sync", "--mode", "incremental", "--json")

    assert code == 0, (summary, err[-2000:])
    assert summary["status"] == "promoted"
    failures = [(g["name"], f) for g in summary["gates"] for f in g["failed_expectations"]]
    assert not [f for _, f in failures if f["severity"] == "critical"]
    warned = [(name, f) for name, f in failures if f["expectation"] == PAIR and f["column"] == pair]
    assert len(warned) == 1 and warned[0][0] == STAGED
    warning = warned[0][1]
    assert warning["severity"] == "warning" and warning["unexpected_count"] == 1
    assert str(changed[1])[:16] in json.dumps(warning["sample_values"], default=str)
    assert "real Olist" in warning["description"]
    with pipeline.warehouse.connect() as conn:
        stored = conn.execute(sa.text(f"select {promoted_column} from user_access_layer.fact_orders where order_id = :o"), {"o": changed[0]}).scalar_one()
    assert stored == changed[1]
    assert pipeline.state()["runs"] != before["runs"]
    assert pipeline.calendar() == (CALENDAR_DAYS, FIRST_DAY, LAST_DAY)


# --- dim_date: a fixed calendar ----------------------------------------------------------------


def test_dim_date_is_exactly_the_fixed_calendar_after_a_full_sync(pipeline):
    count, first, last = pipeline.calendar()

    assert (count, first, last) == (CALENDAR_DAYS, FIRST_DAY, LAST_DAY) == (7670, date(2015, 1, 1), date(2035, 12, 31))
    with pipeline.warehouse.connect() as conn:
        gaps = conn.execute(sa.text("select count(*) from user_access_layer.dim_date where date_key <> cast(to_char(calendar_date, 'YYYYMMDD') as integer)")).scalar_one()
        keys = conn.execute(sa.text(
            "select count(*) from user_access_layer.fact_orders f where not exists (select 1 from user_access_layer.dim_date d where d.date_key = f.purchase_date_key)"
        )).scalar_one()
    assert gaps == 0 and keys == 0


def test_every_date_keyed_column_is_gated_by_the_same_calendar_as_dim_date():
    """The bounds live in dim_date.sql and in the suites: a horizon moved in one place only fails here."""
    keyed = {"orders": ["order_purchase_timestamp", "order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date",
                        "order_estimated_delivery_date"],
             "order_reviews": ["review_creation_date"]}
    for table, columns in keyed.items():
        document = json.loads((resource_dir("expectations") / "staged" / f"{table}.json").read_text(encoding="utf-8"))
        for column in columns:
            bounds = [e["kwargs"] for e in document["expectations"]
                      if e["type"] == BETWEEN and e["kwargs"].get("column") == column and e["meta"]["severity"] == "critical"]
            assert any(kw.get("min_value") == FLOOR for kw in bounds), (table, column, bounds)
            # Purchases and review creations are bounded above by the run's time in the widest time
            # zone (critical: business timestamps are local wall clock), the rest by the horizon.
            assert any(kw.get("max_value") == HORIZON and kw.get("strict_max") for kw in bounds) or any(
                kw.get("max_value") == {"$PARAMETER": "business_run_time"} for kw in bounds), (table, column, bounds)
    sql = render("warehouse/merge/dim_date.sql", "postgresql")
    assert f"CAST('{FIRST_DAY.isoformat()}' AS DATE)" in sql and f"CAST('{LAST_DAY.isoformat()}' AS DATE)" in sql
    assert datetime.fromisoformat(HORIZON).date() - timedelta(days=1) == LAST_DAY and datetime.fromisoformat(FLOOR).date() == FIRST_DAY


def test_dim_date_merge_is_idempotent_and_ignores_the_staged_dates(warehouse):
    settings, engine, _ = warehouse
    sql = render("warehouse/merge/dim_date.sql", "postgresql")
    with engine.begin() as conn:
        # An outlier in the delta, as the old range-from-the-data merge would have grown to.
        conn.execute(sa.text("insert into staging_layer.orders (order_id, customer_id, order_status, order_purchase_timestamp, updated_at)"
                             " values (:o, :c, 'created', '1970-01-01 00:00:00', now())"), {"o": "a" * 32, "c": "b" * 32})
        for statement in statements(sql):
            conn.execute(sa.text(statement))
    first = table_checksums(engine, "user_access_layer")["dim_date"]
    with engine.begin() as conn:
        conn.execute(sa.text("update user_access_layer.dim_date set is_weekend = not is_weekend where date_key = 20180303"))
    assert table_checksums(engine, "user_access_layer")["dim_date"] != first  # a hand edit is a difference

    with engine.begin() as conn:
        for statement in statements(sql):
            conn.execute(sa.text(statement))

    assert first[0] == CALENDAR_DAYS
    assert table_checksums(engine, "user_access_layer")["dim_date"] == first  # the edited day restored, nothing added
    with engine.connect() as conn:
        assert conn.execute(sa.text("select day_of_week, is_weekend from user_access_layer.dim_date where date_key = 20180303")).one() == (6, True)
        assert conn.execute(sa.text("select min(date_key), max(date_key) from user_access_layer.dim_date")).one() == (20150101, 20351231)
