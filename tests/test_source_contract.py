"""The source type contract, source key uniqueness and warehouse value ranges.

The contract itself (olist_etl/source/contract.py) is checked case by case without services.
Against real MariaDB + PostgreSQL, a seeded source is promoted once per module; each case then
changes the source's DDL or rows, runs a sync through the CLI and undoes its change: a change
the warehouse cannot hold losslessly must block at gate-source-columns (exit 2) naming table,
column, expected and found type, with dims, facts and watermarks unchanged; a lossless one must
promote.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

import pytest
import sqlalchemy as sa

from olist_etl.source import contract
from olist_etl.source.contract import SourceType, judge
from tests.support.services import make_settings, mariadb_database, postgres_database
from tests.support import pipeline as pipeline_support
from tests.support.pipeline import cli, sync
from tests.support.tables import assert_tables_unchanged

SOURCE, STAGED, DELTA = "gate-source-columns", "gate-staged-parts", "gate-delta-tables"
TYPE_CHECK = "expect_column_values_to_be_in_type_list"


# --- the contract, without services -----------------------------------------------------------


def mysql_type(column_type: str, *, nullable: bool = True, length=None, octets=None) -> SourceType:
    """A SourceType as information_schema.COLUMNS would describe `column_type`."""
    base = column_type.split("(")[0].split()[0]
    precision = scale = None
    if base in ("decimal", "numeric"):
        precision, scale = (int(x) for x in column_type.split("(")[1].rstrip(")").split(","))
    if base in ("char", "varchar") and length is None:
        length = int(column_type.split("(")[1].split(")")[0])
    if length is not None and octets is None:
        octets = length * 4  # utf8mb4
    return SourceType(base, column_type, nullable, length=length, octets=octets, precision=precision, scale=scale, unsigned="unsigned" in column_type)


ACCEPTED = [
    ("money", "price", "decimal(12,2)"),
    ("money", "price", "decimal(10,2)"),
    ("money", "price", "decimal(11,1)"),
    ("money", "price", "int"),
    ("int", "order_item_id", "smallint"),
    ("int", "order_item_id", "int"),
    ("int", "order_item_id", "mediumint unsigned"),
    ("int", "order_item_id", "decimal(9,0)"),
    ("id", "product_id", "char(32)"),
    ("id", "product_id", "varchar(32)"),
    ("zip", "seller_zip_code_prefix", "char(5)"),
    ("text", "seller_city", "varchar(200)"),
    ("text", "review_comment_message", "longtext"),
    ("float", "geolocation_lat", "float"),
    ("float", "geolocation_lat", "decimal(15,10)"),
    ("timestamp", "order_approved_at", "datetime"),
    ("timestamp", "order_approved_at", "datetime(6)"),
    ("timestamp", "order_approved_at", "timestamp(6)"),
    ("timestamp", "order_approved_at", "date"),
    ("updated_at", "updated_at", "datetime(6)"),
    ("updated_at", "updated_at", "timestamp(6)"),
]

BLOCKED = [
    ("money", "price", "decimal(14,4)", "decimal places would be rounded"),
    ("money", "price", "decimal(16,2)", "integer digits overflow"),
    ("money", "price", "bigint", "overflow"),
    ("money", "price", "double", "not a type"),
    ("int", "order_item_id", "bigint", "overflow INTEGER"),
    ("int", "order_item_id", "int unsigned", "overflow INTEGER"),
    ("int", "order_item_id", "varchar(10)", "not a type"),
    ("int", "order_item_id", "decimal(10,0)", "overflow INTEGER"),
    ("id", "product_id", "varchar(64)", "truncate"),
    ("id", "product_id", "binary(32)", "truncate"),
    ("zip", "seller_zip_code_prefix", "int", "truncate"),
    ("state", "seller_state", "char(3)", "truncate"),
    ("text", "seller_city", "int", "not a character type"),
    ("float", "geolocation_lat", "decimal(20,10)", "not exact"),
    ("float", "geolocation_lat", "bigint", "overflow"),
    ("timestamp", "order_approved_at", "varchar(40)", "not a date-time"),
    ("timestamp", "order_approved_at", "bigint", "not a date-time"),
    ("date", "some_date", "datetime", "drop a time"),
    ("updated_at", "updated_at", "date", "not a date-time"),
    ("updated_at", "updated_at", "varchar(26)", "not a date-time"),
]


@pytest.mark.parametrize("kind, column, declared", ACCEPTED)
def test_lossless_source_types_are_accepted(kind, column, declared):
    verdict = judge(kind, column, mysql_type(declared), "postgresql", key=False)
    assert verdict.severity is None, verdict


@pytest.mark.parametrize("kind, column, declared, reason", BLOCKED)
def test_lossy_source_types_block_with_the_reason(kind, column, declared, reason):
    verdict = judge(kind, column, mysql_type(declared), "postgresql", key=False)
    assert verdict.severity == "critical" and reason in verdict.reason, verdict
    assert "warehouse" in verdict.expected


def test_a_nullable_key_column_blocks_and_a_nullable_non_key_column_does_not():
    assert judge("id", "order_id", mysql_type("char(32)", nullable=True), "postgresql", key=True).severity == "critical"
    assert judge("id", "order_id", mysql_type("char(32)", nullable=False), "postgresql", key=True).severity is None
    assert judge("id", "customer_id", mysql_type("char(32)", nullable=True), "postgresql", key=False).severity is None


def test_redshift_text_is_bounded_by_its_varchar_and_postgresql_text_is_not():
    wide = mysql_type("varchar(300)")
    assert judge("text", "seller_city", wide, "postgresql", key=False).severity is None
    assert judge("text", "seller_city", wide, "redshift", key=False).severity == "critical"
    assert judge("text", "review_comment_title", wide, "redshift", key=False).severity is None  # VARCHAR(65535): 1200 bytes fit
    # 100 utf8mb4 characters fit VARCHAR(256) unless most are multi-byte: reported, not blocked.
    seeded = judge("text", "seller_city", mysql_type("varchar(100)"), "redshift", key=False)
    assert seeded.severity == "warning" and "400 bytes" in seeded.reason
    assert judge("text", "seller_city", mysql_type("varchar(60)", octets=240), "redshift", key=False).severity is None
    assert judge("text", "review_comment_message", mysql_type("mediumtext", length=16777215), "redshift", key=False).severity == "critical"


def test_key_enforced_only_by_a_unique_index_on_the_key_or_a_not_null_part_of_it():
    types = {"order_id": mysql_type("char(32)", nullable=False), "payment_sequential": mysql_type("smallint", nullable=False)}
    key = ("order_id", "payment_sequential")
    assert contract.key_enforced([("PRIMARY", key)], key, types) == "PRIMARY"
    assert contract.key_enforced([("ux", ("payment_sequential", "order_id"))], key, types) == "ux"
    assert contract.key_enforced([("ux", ("order_id", "payment_sequential", "payment_type"))], key, types) is None
    assert contract.key_enforced([], key, types) is None
    nullable = types | {"payment_sequential": mysql_type("smallint", nullable=True)}
    assert contract.key_enforced([("ux", key)], key, nullable) is None  # UNIQUE lets NULL repeat


# --- SQLite: lenient but working --------------------------------------------------------------


def test_sqlite_seeded_source_passes_and_a_numeric_zip_column_blocks(tmp_path):
    from olist_etl.db import source_engine
    from olist_etl.source import create_source_schema, seed_synthetic
    from olist_etl.gates.results import GateFailed
    from olist_etl.gates.source_columns import run_source_columns_gate

    settings = make_settings(tmp_path, source_url=f"sqlite:///{tmp_path / 'source.sqlite'}", warehouse_url=None)
    engine = source_engine(settings)
    create_source_schema(engine, drop_existing=True)
    seed_synthetic(engine, 0.002, 4)

    passed = run_source_columns_gate(settings, "run-sqlite-ok")
    assert passed.success and not passed.failed_expectations
    checked = {(t["table"], e["column"]) for t in passed.results for e in t["expectations"] if e["expectation"] == TYPE_CHECK}
    assert ("sellers", "seller_zip_code_prefix") in checked and ("orders", "updated_at") in checked

    # INTEGER affinity would store the zip prefix '01310' as 1310.
    with engine.begin() as conn:
        conn.execute(sa.text("alter table sellers rename to sellers_old"))
        conn.execute(sa.text(
            "create table sellers (seller_id char(32) not null primary key, seller_zip_code_prefix integer, seller_city varchar(100),"
            " seller_state char(2), updated_at text not null default '2018-01-01 00:00:00.000000')"
        ))
    with pytest.raises(GateFailed) as blocked:
        run_source_columns_gate(settings, "run-sqlite-bad")
    failures = [(f.table, f.column, f.expectation) for f in blocked.value.result.critical_failures]
    assert failures == [("sellers", "seller_zip_code_prefix", TYPE_CHECK)]
    assert "INTEGER affinity" in json.dumps(blocked.value.result.critical_failures[0].sample_values)
    engine.dispose()


# --- staged value ranges, on the landing tables ----------------------------------------------------


def _staged_items(area, run_id: str, price: Decimal) -> dict:
    from tests.support.warehouse import hexid, stage_run

    stamp = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)
    row = (hexid(1), 1, hexid(2), hexid(3), datetime(2018, 1, 5), price, Decimal("1.00"), stamp)
    return stage_run(area, run_id, {"order_items": [row]})


@pytest.mark.integration
@pytest.mark.parametrize("price, blocked", [(Decimal("9999999999.99"), False), (Decimal("10000000000.00"), True)])
def test_staged_money_beyond_numeric_12_2_is_blocked_by_gate_1_naming_the_column(warehouse, price, blocked):
    from olist_etl.gates.results import GateFailed
    from olist_etl.gates.staged import run_staged_gate

    # Gate 1 runs GX on the landing tables in the warehouse.
    settings, _engine, area = warehouse
    manifest = _staged_items(area, "run-range", price)
    if not blocked:
        assert run_staged_gate(settings, manifest, previous_rows={}).result.success
        return
    with pytest.raises(GateFailed) as err:
        run_staged_gate(settings, manifest, previous_rows={})
    failures = [(f.table, f.expectation, f.column, f.sample_values) for f in err.value.result.critical_failures]
    assert failures == [("order_items", "expect_column_values_to_be_between", "price", [format(price, "f")])]


# --- end to end against MariaDB + PostgreSQL --------------------------------------------------


class Pipeline(pipeline_support.Pipeline):
    def column_type(self, table: str, column: str) -> str:
        return self.one(
            "select COLUMN_TYPE from information_schema.COLUMNS where TABLE_SCHEMA = database() and TABLE_NAME = :t and COLUMN_NAME = :c",
            t=table, c=column,
        )[0]

    def gate_result(self, run_id: str) -> dict:
        from pathlib import Path

        return json.loads((Path(self.env["OLIST_HOME"]) / "gate_results" / run_id / f"{SOURCE}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, prefect_api) -> Iterator[Pipeline]:
    home = tmp_path_factory.mktemp("source-contract") / "home"
    home.mkdir()
    with mariadb_database() as source_url, postgres_database() as warehouse_url:
        with pytest.MonkeyPatch.context() as mp:
            env = {
                "OLIST_HOME": str(home),
                "OLIST_SOURCE_URL": source_url,
                "OLIST_WAREHOUSE_URL": warehouse_url,
                "OLIST_STAGING_URL": (home / "staging").as_uri(),
                "OLIST_LOOKBACK_MINUTES": "0",
            }
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("OLIST_MAX_REJECTED_ROWS", raising=False)
            code, out, err = cli("seed-source", "--scale", "0.01", "--seed", "3")
            assert code == 0, err[-2000:]
            code, full = sync("full")
            assert code == 0 and full["status"] == "promoted", full
            pipe = Pipeline(env)
            try:
                yield pipe
            finally:
                pipe.source.dispose()
                pipe.warehouse.dispose()


def _modify(table: str, column: str, new: str, old: str):
    @contextlib.contextmanager
    def change(p: Pipeline):
        p.execute(f"alter table {table} modify {column} {new}")
        try:
            yield
        finally:
            p.execute(f"alter table {table} modify {column} {old}")

    return change


@contextlib.contextmanager
def nullable_key(p: Pipeline):
    # MariaDB keeps primary-key columns NOT NULL, so the key goes first (as a real migration would).
    p.execute("alter table order_payments drop primary key", "alter table order_payments modify order_id char(32) null")
    try:
        yield
    finally:
        p.execute("alter table order_payments modify order_id char(32) not null", "alter table order_payments add primary key (order_id, payment_sequential)")


# case: (change, table, column, found type)
BLOCKING = {
    "money with more decimal places": (_modify("order_items", "price", "decimal(14,4) null", "decimal(12,2) null"), "order_items", "price", "decimal(14,4)"),
    "money with more integer digits": (_modify("order_items", "price", "decimal(16,2) null", "decimal(12,2) null"), "order_items", "price", "decimal(16,2)"),
    "id widened": (_modify("products", "product_id", "varchar(64) not null", "char(32) not null"), "products", "product_id", "varchar(64)"),
    "int to bigint": (_modify("products", "product_weight_g", "bigint null", "int null"), "products", "product_weight_g", "bigint"),
    "int to varchar": (_modify("products", "product_weight_g", "varchar(20) null", "int null"), "products", "product_weight_g", "varchar(20)"),
    "datetime to varchar": (_modify("orders", "order_approved_at", "varchar(40) null", "datetime null"), "orders", "order_approved_at", "varchar(40)"),
    "key made nullable": (nullable_key, "order_payments", "order_id", "char(32)"),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", BLOCKING)
def test_a_type_the_warehouse_cannot_hold_blocks_at_the_source_gate(pipeline, case):
    change, table, column, found = BLOCKING[case]
    before = pipeline.state()

    with change(pipeline):
        code, summary = sync("incremental")

    assert code == 2 and summary["status"] == "blocked", summary
    critical = [(g["name"], f["table"], f["expectation"], f["column"]) for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical"]
    assert critical == [(SOURCE, table, TYPE_CHECK, column)]
    failure = next(f for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical")
    sample = failure["sample_values"][0]
    assert sample["found"].startswith(found) and "warehouse" in sample["expected"] and sample["reason"]
    assert found in failure["description"]
    if case == "key made nullable":
        assert "NOT NULL" in sample["expected"] and "nullable" in sample["reason"]
    after = pipeline.state()
    assert_tables_unchanged(before["star"], after["star"])
    assert (after["watermarks"], after["runs"]) == (before["watermarks"], before["runs"])
    # The data docs index lists the failure with its run.
    with open(summary["data_docs"], encoding="utf-8") as index:
        page = index.read()
    assert summary["run_id"] in page and TYPE_CHECK in page


def _updated_at_as_timestamp(p: Pipeline):
    seeded = p.column_type("sellers", "updated_at")
    clause = "not null default current_timestamp(6) on update current_timestamp(6)"
    return _modify("sellers", "updated_at", f"timestamp(6) {clause}", f"{seeded} {clause}")(p)


# case: (change, table, column, found type)
LOSSLESS = {
    "money narrowed": (_modify("order_items", "price", "decimal(10,2) null", "decimal(12,2) null"), "order_items", "price", "decimal(10,2)"),
    "free text widened": (_modify("customers", "customer_city", "varchar(200) null", "varchar(100) null"), "customers", "customer_city", "varchar(200)"),
    "smallint to int": (_modify("order_items", "order_item_id", "int not null", "smallint not null"), "order_items", "order_item_id", "int"),
    "datetime to datetime(6)": (_modify("orders", "order_approved_at", "datetime(6) null", "datetime null"), "orders", "order_approved_at", "datetime(6)"),
    "updated_at as timestamp(6)": (_updated_at_as_timestamp, "sellers", "updated_at", "timestamp(6)"),
}


@pytest.mark.integration
@pytest.mark.parametrize("case", LOSSLESS)
def test_a_lossless_type_change_promotes(pipeline, case):
    change, table, column, found = LOSSLESS[case]
    with change(pipeline):
        code, summary = sync("incremental")

    assert code == 0 and summary["status"] == "promoted", summary
    gate = pipeline.gate_result(summary["run_id"])
    assert gate["success"]
    check = next(e for t in gate["results"] if t["table"] == table for e in t["expectations"] if e["expectation"] == TYPE_CHECK and e["column"] == column)
    assert check["success"] and check["observed_value"].startswith(found)


@pytest.mark.integration
def test_a_table_without_updated_at_is_a_warning_not_a_failure(pipeline):
    from pathlib import Path

    from olist_etl.gates.source_columns import run_source_columns_gate

    seeded = pipeline.column_type("product_category_name_translation", "updated_at")
    pipeline.execute("alter table product_category_name_translation drop column updated_at")
    try:
        settings = make_settings(Path(pipeline.env["OLIST_HOME"]), source_url=pipeline.env["OLIST_SOURCE_URL"], warehouse_url=pipeline.env["OLIST_WAREHOUSE_URL"])
        result = run_source_columns_gate(settings, "run-no-updated-at")
    finally:
        pipeline.execute(
            f"alter table product_category_name_translation add column updated_at {seeded} not null"
            " default current_timestamp(6) on update current_timestamp(6)"
        )
    assert result.success
    assert [(f.table, f.column, f.severity) for f in result.failed_expectations] == [("product_category_name_translation", "updated_at", "warning")]


@pytest.mark.integration
def test_a_key_held_twice_in_the_source_blocks_an_incremental_naming_both_rows(pipeline):
    order_id, sequential, value = pipeline.one("select order_id, payment_sequential, payment_value from order_payments order by order_id limit 1")
    pipeline.execute("alter table order_payments drop primary key")
    try:
        # Without a unique index but without duplicates: promoted, with a warning.
        code, clean = sync("incremental")
        assert code == 0 and clean["status"] == "promoted", clean
        warnings = [(f["table"], f["severity"], f["sample_values"]) for g in clean["gates"] for f in g["failed_expectations"]]
        assert warnings == [("order_payments", "warning", ["no unique index"])]

        before = pipeline.state()
        pipeline.execute(
            "insert into order_payments (order_id, payment_sequential, payment_type, payment_installments, payment_value)"
            " values (:o, :s, 'voucher', 1, 1.23)", o=order_id, s=sequential,
        )
        code, summary = sync("incremental")
    finally:
        pipeline.execute(
            "delete from order_payments where order_id = :o and payment_sequential = :s and payment_value = 1.23",
            "alter table order_payments add primary key (order_id, payment_sequential)", o=order_id, s=sequential,
        )

    assert code == 2 and summary["status"] == "blocked", summary
    critical = [(g["name"], f["table"], f["expectation"], f["column"]) for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical"]
    assert critical == [(SOURCE, "order_payments", "expect_compound_columns_to_be_unique", ["order_id", "payment_sequential"])]
    failure = next(f for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical")
    assert failure["unexpected_count"] == 1
    duplicated = failure["sample_values"][0]
    assert duplicated["key"] == {"order_id": order_id, "payment_sequential": sequential} and duplicated["copies"] == 2
    assert sorted(r["payment_value"] for r in duplicated["rows"]) == sorted(["1.23", format(value, "f")])
    after = pipeline.state()
    assert_tables_unchanged(before["star"], after["star"])
    assert (after["watermarks"], after["runs"]) == (before["watermarks"], before["runs"])


@pytest.mark.integration
def test_an_order_total_beyond_numeric_12_2_blocks_at_the_delta_gate_and_the_fixed_source_promotes(pipeline):
    order_id, item_id = pipeline.one("select order_id, min(order_item_id) from order_items group by order_id order by order_id limit 1")
    price, freight = pipeline.one("select price, freight_value from order_items where order_id = :o and order_item_id = :i", o=order_id, i=item_id)
    # A second item of the same order, both at the largest price NUMERIC(12,2) holds: each row
    # fits every column, their sum does not fit fact_orders.items_value / order_total.
    pipeline.execute(
        "insert into order_items (order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value)"
        " select order_id, 98, product_id, seller_id, shipping_limit_date, 9999999999.99, 0 from order_items where order_id = :o and order_item_id = :i",
        "update order_items set price = 9999999999.99 where order_id = :o and order_item_id = :i",
        o=order_id, i=item_id,
    )
    before = pipeline.state()
    try:
        code, summary = sync("incremental")
        assert code == 2 and summary["status"] == "blocked", summary
        critical = [(g["name"], f["table"], f["expectation"], f["column"]) for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical"]
        assert critical == [(DELTA, "order_items", "unexpected_row_count_expectation", ["price", "freight_value"])]
        failure = next(f for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical")
        assert failure["sample_values"][0]["order_id"] == order_id
        assert Decimal(failure["sample_values"][0]["items_value"]) >= Decimal("19999999999.98")
        after = pipeline.state()
        assert_tables_unchanged(before["star"], after["star"])
        assert (after["watermarks"], after["runs"]) == (before["watermarks"], before["runs"])
    finally:
        pipeline.execute(
            "delete from order_items where order_id = :o and order_item_id = 98",
            "update order_items set price = :p, freight_value = :f where order_id = :o and order_item_id = :i",
            o=order_id, i=item_id, p=price, f=freight,
        )

    # Fixed in the source: the next run re-reads the change and promotes (nothing wedged).
    code, fixed = sync("incremental")
    assert code == 0 and fixed["status"] == "promoted", fixed
    with pipeline.warehouse.connect() as conn:
        stored = conn.execute(
            sa.text("select items_value from user_access_layer.fact_orders where order_id = :o"), {"o": order_id}
        ).scalar_one()
    with pipeline.source.connect() as conn:
        expected = conn.execute(sa.text("select sum(price) from order_items where order_id = :o"), {"o": order_id}).scalar_one()
    assert stored == expected



# Run ids dateutil reads as a time with a UTC offset of a day or more; GX parsed the run name for
# its page title and raised on them, so about 1 run in 1,400 was blocked with every table a GX error.
TIME_LIKE_RUN_IDS = ["20261203T052644Z-2395ad", "20250615T120000Z-33a20a"]


@pytest.mark.parametrize("run_id", TIME_LIKE_RUN_IDS)
def test_a_run_id_that_reads_as_a_time_with_an_impossible_offset_still_gets_its_pages(tmp_path, run_id):
    from dateutil.parser import parse

    from olist_etl.db import source_engine
    from olist_etl.gates.source_columns import run_source_columns_gate
    from olist_etl.source import create_source_schema, seed_synthetic

    with pytest.raises(ValueError, match="offset must be a timedelta"):  # the premise: GX's comparison raises
        parse(run_id) != datetime.now(timezone.utc)
    settings = make_settings(tmp_path, source_url=f"sqlite:///{tmp_path / 'source.sqlite'}", warehouse_url=None)
    engine = source_engine(settings)
    create_source_schema(engine, drop_existing=True)
    seed_synthetic(engine, 0.002, 4)
    engine.dispose()

    passed = run_source_columns_gate(settings, run_id)

    assert passed.success, [f.error for f in passed.failed_expectations]
    pages = sorted((settings.home / "data_docs" / "validations" / "source").rglob(f"{run_id}/*/*.html"))
    assert len(pages) == len({t["table"] for t in passed.results})
    assert f"/ {run_id} /" in pages[0].read_text(encoding="utf-8")  # the title names the run
