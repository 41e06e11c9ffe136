"""Gate 2 (olist_etl/gates/delta.py) against a real PostgreSQL warehouse.

Each test builds staging_layer (the nine delta tables, no constraints) and user_access_layer
(the promoted keys the orphan checks also accept) in a fresh database, loads a small clean
delta, breaks exactly one thing and runs the gate. The gate reconciles each delta table with the
run's manifest in the staging area; `gate()` writes one holding the delta's current counts, so
only the reconciliation tests see a difference.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.cache_policies import NO_CACHE

from olist_etl.db import normalize_url
from olist_etl.tables import TABLE_NAMES, TABLES, get_table, quote_ident
from olist_etl.gates.delta import GATE_NAME, run_delta_gate
from olist_etl.gates.results import GateFailed, GateResult
from olist_etl.gates.suites import load_suite, suite_from_dict, suite_path, suite_to_dict
from olist_etl.manifest import RunManifest, TableExtract
from tasks.gates import validate_delta_tables
from tests.support.services import make_settings, unavailable

pytestmark = pytest.mark.integration

SQL_TYPES = {
    "id": "char(32)",
    "zip": "char(5)",
    "state": "char(2)",
    "text": "text",
    "int": "integer",
    "money": "numeric(12,2)",
    "float": "double precision",
    "timestamp": "timestamp",
    "date": "date",
}
PROMOTED_KEYS = {"fact_orders": "order_id", "dim_product": "product_id", "dim_seller": "seller_id", "customer_account": "customer_id"}
PASSWORD = "S3cretPw"


def oid(name: str) -> str:
    """A 32-hex id, like Olist's, readable back to the name through the test data below."""
    return hashlib.md5(name.encode()).hexdigest()


CLEAN_DELTA: dict[str, list[dict]] = {
    "customers": [
        {"customer_id": oid("c1"), "customer_unique_id": oid("u1"), "customer_zip_code_prefix": "01310", "customer_state": "SP"},
        {"customer_id": oid("c2"), "customer_unique_id": oid("u2"), "customer_zip_code_prefix": "20040", "customer_state": "RJ"},
    ],
    "geolocation": [
        {"geolocation_id": 1, "geolocation_zip_code_prefix": "01310", "geolocation_lat": -23.5, "geolocation_lng": -46.6, "geolocation_state": "SP"}
    ],
    "orders": [
        {"order_id": oid("o1"), "customer_id": oid("c1"), "order_status": "delivered"},
        {"order_id": oid("o2"), "customer_id": oid("c2"), "order_status": "shipped"},
    ],
    "order_items": [
        {"order_id": oid("o1"), "order_item_id": 1, "product_id": oid("p1"), "seller_id": oid("s1"), "price": 10, "freight_value": 2},
        {"order_id": oid("o1"), "order_item_id": 2, "product_id": oid("p1"), "seller_id": oid("s1"), "price": 10, "freight_value": 2},
        {"order_id": oid("o2"), "order_item_id": 1, "product_id": oid("p1"), "seller_id": oid("s1"), "price": 5, "freight_value": 0},
    ],
    "order_payments": [
        {"order_id": oid("o1"), "payment_sequential": 1, "payment_type": "credit_card", "payment_installments": 3, "payment_value": 24},
        {"order_id": oid("o2"), "payment_sequential": 1, "payment_type": "boleto", "payment_installments": 0, "payment_value": 5},
    ],
    "order_reviews": [{"review_id": oid("r1"), "order_id": oid("o1"), "review_score": 5}],
    "products": [
        {"product_id": oid("p1"), "product_category_name": "beleza_saude", "product_weight_g": 300, "product_photos_qty": 1,
         "product_length_cm": 16, "product_height_cm": 10, "product_width_cm": 11}
    ],
    "sellers": [{"seller_id": oid("s1"), "seller_zip_code_prefix": "13023", "seller_state": "SP"}],
    "product_category_name_translation": [{"product_category_name": "beleza_saude", "product_category_name_english": "health_beauty"}],
}


def create_warehouse(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("create schema staging_layer"))
        conn.execute(sa.text("create schema user_access_layer"))
        for table in TABLES:
            columns = ", ".join(f"{quote_ident(c.name)} {SQL_TYPES[c.kind]}" for c in table.columns)
            conn.execute(sa.text(f"create table staging_layer.{quote_ident(table.name)} ({columns}, updated_at timestamp)"))
        for name, key in PROMOTED_KEYS.items():
            conn.execute(sa.text(f"create table user_access_layer.{name} ({key} char(32))"))
        # The order-total range check sums this run's items over the stored ones.
        conn.execute(sa.text("create table user_access_layer.fact_order_items (order_id char(32), order_item_id integer, "
                             "price numeric(12,2), freight_value numeric(12,2), updated_at timestamp)"))
    for table, rows in CLEAN_DELTA.items():
        insert_delta(engine, table, rows)
    return engine


def insert_delta(engine: sa.Engine, table: str, rows: list[dict]) -> None:
    get_table(table)
    with engine.begin() as conn:
        for row in rows:
            names = ", ".join(quote_ident(k) for k in row)
            values = ", ".join(f":{k}" for k in row)
            conn.execute(sa.text(f"insert into staging_layer.{quote_ident(table)} ({names}) values ({values})"), row)


def insert_promoted(engine: sa.Engine, table: str, key: str) -> None:
    column = PROMOTED_KEYS[table]
    with engine.begin() as conn:
        conn.execute(sa.text(f"insert into user_access_layer.{table} ({column}) values (:k)"), {"k": key})


@pytest.fixture
def warehouse(postgres_url) -> sa.Engine:
    engine = create_warehouse(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(olist_home, postgres_url, warehouse):
    return make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url)


def delta_suite_path(table: str):
    return suite_path("delta", table)


def load_delta_suite(table: str):
    return load_suite("delta", table)


def manifest_of(run_id: str, rows: dict[str, int]) -> RunManifest:
    tables = {t: TableExtract(table=t, columns=list(get_table(t).staged_columns), rows=n) for t, n in rows.items()}
    return RunManifest(run_id=run_id, mode="incremental", tables=tables)


def write_manifest(settings, run_id: str, rows: dict[str, int] | None = None) -> dict[str, int]:
    """The run's row counts as the extract records them; by default each delta table's current count."""
    if rows is None:
        engine = sa.create_engine(normalize_url(settings.warehouse_url.reveal()))
        try:
            with engine.connect() as conn:
                # A table a test dropped counts 0; the gate reports the missing table itself.
                rows = {
                    t: conn.execute(sa.text(f"select count(*) from staging_layer.{quote_ident(t)}")).scalar_one()
                    if conn.execute(sa.text("select to_regclass(:t)"), {"t": f"staging_layer.{t}"}).scalar() else 0
                    for t in TABLE_NAMES
                }
        finally:
            engine.dispose()
    return rows


def gate(settings, run_id: str = "run-1", tables=TABLE_NAMES, manifest_rows: dict[str, int] | None = None, **kwargs) -> GateResult:
    rows = write_manifest(settings, run_id, manifest_rows)
    return run_delta_gate(settings, manifest_of(run_id, rows), list(tables), **kwargs)


def failed_gate(settings, run_id: str = "run-1", tables=TABLE_NAMES, **kwargs) -> GateFailed:
    with pytest.raises(GateFailed) as caught:
        gate(settings, run_id, tables, **kwargs)
    return caught.value


# --- suites ----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_suite_file_round_trips_through_gx_classes(table):
    document = json.loads(delta_suite_path(table).read_text())

    suite = load_delta_suite(table)

    assert suite.name == f"delta.{table}"
    assert suite_to_dict(suite) == document
    assert [e.severity.value for e in suite.expectations] == [e["meta"]["severity"] for e in document["expectations"]]


def test_suite_without_severity_is_rejected_and_with_it_is_accepted():
    expectation = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}, "meta": {"description": "x"}}
    document = {"name": "delta.test", "meta": {"version": 1}, "expectations": [expectation]}

    with pytest.raises(ValueError, match="meta.severity"):
        suite_from_dict(document)
    expectation["meta"]["severity"] = "warning"
    assert suite_to_dict(suite_from_dict(document)) == document


@pytest.mark.parametrize("table", TABLES, ids=TABLE_NAMES)
def test_every_key_and_not_null_column_has_a_critical_not_null_check(table):
    required = {c.name for c in table.columns if not c.nullable} | set(table.primary_key)

    suite = load_delta_suite(table.name)

    checked = {
        e.configuration.kwargs["column"]
        for e in suite.expectations
        if e.expectation_type == "expect_column_values_to_not_be_null" and e.configuration.meta["severity"] == "critical"
    }
    assert required <= checked, f"{table.name}: no critical not-null check for {sorted(required - checked)}"


# --- the gate on clean and broken deltas -----------------------------------------------------


def test_clean_delta_passes_and_writes_result_and_data_docs(settings):
    result = gate(settings)

    assert result.success, result.failed_expectations
    assert result.failed_expectations == []
    assert sorted(r["table"] for r in result.results) == sorted(TABLE_NAMES)
    assert all(r["success"] for r in result.results)
    written = json.loads((settings.home / "gate_results" / "run-1" / f"{GATE_NAME}.json").read_text())
    assert written["success"] is True and written["name"] == GATE_NAME
    assert result.data_docs == str(settings.home / "data_docs")
    # GX's checkpoint rendered each table's validation page (the index is built once per run, by the flow).
    assert {p.parent.parent.parent.name for p in (settings.home / "data_docs" / "validations" / "delta").rglob("*.html")} == set(TABLE_NAMES)


BLOCKING_CASES = {
    "null order_id in orders": (
        "orders",
        [{"order_id": None, "customer_id": oid("c1"), "order_status": "created"}],
        "expect_column_values_to_not_be_null",
        "order_id",
        None,
    ),
    "duplicate order item key": (
        "order_items",
        [{"order_id": oid("o1"), "order_item_id": 1, "product_id": oid("p1"), "seller_id": oid("s1"), "price": 10, "freight_value": 2}],
        "expect_compound_columns_to_be_unique",
        ["order_id", "order_item_id"],
        oid("o1"),
    ),
    "order item with an unknown product": (
        "order_items",
        [{"order_id": oid("o2"), "order_item_id": 2, "product_id": oid("p-missing"), "seller_id": oid("s1"), "price": 1, "freight_value": 1}],
        "unexpected_row_count_expectation",
        "product_id",
        oid("p-missing"),
    ),
    "payment for a missing order": (
        "order_payments",
        [{"order_id": oid("o-missing"), "payment_sequential": 1, "payment_type": "voucher", "payment_value": 3}],
        "unexpected_row_count_expectation",
        "order_id",
        oid("o-missing"),
    ),
    "review for a missing order": (
        "order_reviews",
        [{"review_id": oid("r2"), "order_id": oid("o-missing"), "review_score": 3}],
        "unexpected_row_count_expectation",
        "order_id",
        oid("o-missing"),
    ),
}


def _case(table: str, row: dict, expectation: str, column: str, sample: str) -> tuple:
    return (table, [row], expectation, column, sample)


def _item(**values) -> dict:
    return {"order_id": oid("o2"), "order_item_id": 2, "product_id": oid("p1"), "seller_id": oid("s1"), "price": 1, "freight_value": 1} | values


def _payment(**values) -> dict:
    return {"order_id": oid("o2"), "payment_sequential": 2, "payment_type": "voucher", "payment_installments": 1, "payment_value": 1} | values


def _product(**values) -> dict:
    return {"product_id": oid("p2"), "product_weight_g": 100, "product_length_cm": 10, "product_height_cm": 10, "product_width_cm": 10} | values


IN_SET, BETWEEN, REGEX = "expect_column_values_to_be_in_set", "expect_column_values_to_be_between", "expect_column_values_to_match_regex"
# Accepted values and ranges block in gate 2 too: a delta loaded by another path (or a suite
# changed in gate 1) must still never promote them. Each concerns one table, so only it is validated.
VALUE_CASES = {
    "unknown order_status": _case("orders", {"order_id": oid("o3"), "customer_id": oid("c1"), "order_status": "teleported"}, IN_SET, "order_status", "teleported"),
    "unknown payment type": _case("order_payments", _payment(payment_type="bitcoin"), IN_SET, "payment_type", "bitcoin"),
    "negative price": _case("order_items", _item(price=-4), BETWEEN, "price", "-4.00"),
    "negative freight": _case("order_items", _item(freight_value=-1.5), BETWEEN, "freight_value", "-1.50"),
    "negative payment value": _case("order_payments", _payment(payment_value=-9.9), BETWEEN, "payment_value", "-9.90"),
    "negative installments": _case("order_payments", _payment(payment_installments=-2), BETWEEN, "payment_installments", "-2"),
    "review_score 7": _case("order_reviews", {"review_id": oid("r2"), "order_id": oid("o1"), "review_score": 7}, BETWEEN, "review_score", "7"),
    "unknown customer state": _case("customers", {"customer_id": oid("c3"), "customer_unique_id": oid("u3"), "customer_state": "XX"}, IN_SET, "customer_state", "XX"),
    "unknown seller state": _case("sellers", {"seller_id": oid("s2"), "seller_state": "sp"}, IN_SET, "seller_state", "sp"),
    "unknown geolocation state": _case("geolocation", {"geolocation_id": 2, "geolocation_state": "ZZ"}, IN_SET, "geolocation_state", "ZZ"),
    "4-digit customer zip": _case("customers", {"customer_id": oid("c3"), "customer_unique_id": oid("u3"), "customer_zip_code_prefix": "1310"}, REGEX, "customer_zip_code_prefix", "1310"),
    "4-digit seller zip": _case("sellers", {"seller_id": oid("s2"), "seller_zip_code_prefix": "2004"}, REGEX, "seller_zip_code_prefix", "2004"),
    "zip with a letter": _case("geolocation", {"geolocation_id": 2, "geolocation_zip_code_prefix": "0131O"}, REGEX, "geolocation_zip_code_prefix", "0131O"),
    "negative product weight": _case("products", _product(product_weight_g=-1), BETWEEN, "product_weight_g", "-1"),
    "zero product length": _case("products", _product(product_length_cm=0), BETWEEN, "product_length_cm", "[0]"),
    "zero product height": _case("products", _product(product_height_cm=0), BETWEEN, "product_height_cm", "[0]"),
    "negative product width": _case("products", _product(product_width_cm=-3), BETWEEN, "product_width_cm", "-3"),
    "negative photo count": _case("products", _product(product_photos_qty=-1), BETWEEN, "product_photos_qty", "-1"),
}
BLOCKING_CASES |= VALUE_CASES


@pytest.mark.parametrize("case", BLOCKING_CASES)
def test_broken_delta_blocks_with_the_failing_expectation_named(settings, warehouse, case):
    table, rows, expectation, column, sample = BLOCKING_CASES[case]
    tables = [table] if case in VALUE_CASES else TABLE_NAMES
    assert gate(settings, "before", tables).success  # the same delta passes until it is broken
    insert_delta(warehouse, table, rows)

    failed = failed_gate(settings, "run-1", tables)

    critical = [f for f in failed.result.failed_expectations if f.severity == "critical"]
    assert [(f.table, f.expectation, f.column) for f in critical] == [(table, expectation, column)]
    failure = critical[0]
    assert failure.unexpected_count >= 1
    assert failure.description
    message = str(failed)
    where = f"{table}.{column}" if isinstance(column, str) else f"{table}.({', '.join(column)})"
    assert f"{where}: {expectation}, {failure.unexpected_count} unexpected" in message
    if sample is not None:
        assert sample in json.dumps(failure.sample_values)
        assert f"e.g. {json.dumps(failure.sample_values)}" in message and sample in message
    assert failed.result.success is False
    written = json.loads((settings.home / "gate_results" / "run-1" / f"{GATE_NAME}.json").read_text())
    assert written["success"] is False
    assert [f["expectation"] for f in written["failed_expectations"] if f["severity"] == "critical"] == [expectation]


def test_item_whose_product_is_only_in_dim_product_passes_the_orphan_check(settings, warehouse):
    insert_delta(
        warehouse,
        "order_items",
        [{"order_id": oid("o2"), "order_item_id": 2, "product_id": oid("p-old"), "seller_id": oid("s-old"), "price": 1, "freight_value": 1}],
    )
    failed = failed_gate(settings, "orphan")
    assert {f.column for f in failed.result.critical_failures} == {"product_id", "seller_id"}

    insert_promoted(warehouse, "dim_product", oid("p-old"))
    insert_promoted(warehouse, "dim_seller", oid("s-old"))
    result = gate(settings, "promoted-earlier")

    assert result.success, result.failed_expectations


def test_order_whose_customer_is_missing_is_a_warning_until_the_customer_is_promoted(settings, warehouse):
    # A customer row committed after its order is a late-arriving dimension row: the order is
    # promoted on dim_customer's unknown member and re-keyed later, so it does not block.
    insert_delta(warehouse, "orders", [{"order_id": oid("o3"), "customer_id": oid("c-late"), "order_status": "created"}])

    result = gate(settings, "late-customer")

    assert result.success
    assert [(f.table, f.expectation, f.column, f.severity) for f in result.failed_expectations] == [
        ("orders", "unexpected_row_count_expectation", "customer_id", "warning")
    ]
    assert oid("c-late") in json.dumps(result.failed_expectations[0].sample_values)

    insert_promoted(warehouse, "customer_account", oid("c-late"))
    assert gate(settings, "customer-promoted").failed_expectations == []


def test_payment_whose_order_is_only_in_fact_orders_passes_the_orphan_check(settings, warehouse):
    insert_delta(warehouse, "order_payments", [{"order_id": oid("o-old"), "payment_sequential": 1, "payment_value": 1}])
    assert not failed_gate(settings, "orphan").result.success

    insert_promoted(warehouse, "fact_orders", oid("o-old"))
    result = gate(settings, "promoted-earlier")

    assert result.success, result.failed_expectations


def test_warning_failure_is_reported_without_blocking_but_a_critical_range_check_blocks(settings, warehouse):
    insert_delta(warehouse, "geolocation", [{"geolocation_id": 2, "geolocation_lat": -95.0, "geolocation_lng": -46.6, "geolocation_state": "SP"}])
    insert_delta(warehouse, "products", [_product(product_weight_g=0)])

    result = gate(settings, "warning")

    assert result.success
    assert sorted((f.table, f.expectation, f.column, f.severity, tuple(f.sample_values)) for f in result.failed_expectations) == [
        ("geolocation", BETWEEN, "geolocation_lat", "warning", (-95.0,)),
        ("products", BETWEEN, "product_weight_g", "warning", (0,)),
    ]

    insert_delta(warehouse, "order_items", [_item(price=-4)])
    failed = failed_gate(settings, "critical")
    assert [(f.table, f.column) for f in failed.result.critical_failures] == [("order_items", "price")]
    assert "geolocation_lat" not in str(failed)  # warnings are in the result, not in the blocking message


def test_the_real_products_pass_gate_2_and_their_zero_weights_are_only_a_warning(settings, warehouse, shared_real):
    import csv

    spec = get_table("products")
    renames = dict(spec.kaggle_renames)
    with open(shared_real / "olist_products_dataset.csv", encoding="utf-8-sig", newline="") as src:
        rows = [{renames.get(k, k): (int(float(v)) if v and k not in ("product_id", "product_category_name") else v or None) for k, v in row.items()} for row in csv.DictReader(src)]
    columns = list(spec.column_names)
    with warehouse.begin() as conn:
        conn.execute(sa.text("truncate staging_layer.products"))
        conn.execute(
            sa.text(f"insert into staging_layer.products ({', '.join(map(quote_ident, columns))}) values ({', '.join(':' + c for c in columns)})"),
            [{c: row.get(c) for c in columns} for row in rows],
        )

    result = gate(settings, "real-products", ["products"])

    assert result.success, result.failed_expectations
    assert [(f.column, f.severity, f.unexpected_count) for f in result.failed_expectations] == [("product_weight_g", "warning", 4)]


# --- reconciliation: rows loaded = rows extracted ----------------------------------------------


def test_a_delta_table_with_one_row_more_than_the_manifest_blocks_with_the_row_count_check(settings, warehouse):
    extracted = write_manifest(settings, "reconcile")
    assert run_delta_gate(settings, manifest_of("reconcile", extracted)).success
    insert_delta(warehouse, "sellers", [{"seller_id": oid("s2"), "seller_zip_code_prefix": "20040", "seller_state": "RJ"}])

    with pytest.raises(GateFailed) as caught:
        run_delta_gate(settings, manifest_of("reconcile", extracted))

    critical = caught.value.result.critical_failures
    assert [(f.table, f.expectation, f.column, f.unexpected_count) for f in critical] == [
        ("sellers", "expect_table_row_count_to_equal", None, 1)
    ]
    assert critical[0].sample_values == [{"rows_loaded": extracted["sellers"] + 1, "manifest_rows": extracted["sellers"]}]
    assert 'sellers: expect_table_row_count_to_equal, 1 unexpected, e.g. [{"rows_loaded": 2, "manifest_rows": 1}]' in str(caught.value)
    assert "Reconciliation" in critical[0].description


def test_fewer_rows_loaded_than_extracted_block_too(settings, warehouse):
    with warehouse.begin() as conn:
        conn.execute(sa.text("delete from staging_layer.order_items where order_item_id = 2"))

    failed = failed_gate(settings, "lost-row", ["order_items"], manifest_rows={"order_items": 3})

    assert [(f.expectation, f.unexpected_count, f.sample_values) for f in failed.result.critical_failures] == [
        ("expect_table_row_count_to_equal", 1, [{"rows_loaded": 2, "manifest_rows": 3}])
    ]


def test_a_table_missing_from_the_manifest_is_refused_instead_of_passing(settings):
    with pytest.raises(ValueError, match="has no entry for sellers"):
        gate(settings, "partial", ["orders", "sellers"], manifest_rows={"orders": 2})


def test_missing_delta_table_is_a_gx_error_not_a_pass(settings, warehouse):
    assert gate(settings, "present", ["sellers"]).success
    with warehouse.begin() as conn:
        conn.execute(sa.text("drop table staging_layer.sellers"))

    failed = failed_gate(settings, "missing", ["sellers", "customers"], manifest_rows={"sellers": 1, "customers": 2})

    errors = failed.result.critical_failures
    assert [(f.table, f.expectation) for f in errors] == [("sellers", "gx_error")]
    assert "sellers" in errors[0].error
    assert "sellers" in str(failed) and "gx_error" in str(failed)
    # the other table was still validated
    assert {r["table"]: r["success"] for r in failed.result.results} == {"sellers": False, "customers": True}


def test_broken_query_in_a_suite_fails_even_at_warning_severity(settings):
    document = json.loads(delta_suite_path("orders").read_text())
    working = {
        "type": "unexpected_row_count_expectation",
        "kwargs": {"unexpected_rows_query": "select * from {batch} where order_status = 'lost'"},
        "meta": {"severity": "warning", "description": "a warning-level SQL check"},
    }
    document["expectations"].append(working)
    assert gate(settings, "good-query", ["orders"], suites={"orders": suite_from_dict(document)}).success

    working["kwargs"]["unexpected_rows_query"] = "select * from {batch} where no_such_column = 1"
    failed = failed_gate(settings, "bad-query", ["orders"], suites={"orders": suite_from_dict(document)})

    errors = failed.result.critical_failures
    assert [(f.table, f.expectation) for f in errors] == [("orders", "gx_error")]
    assert "no_such_column" in errors[0].error


def test_data_docs_are_built_for_a_failing_run_and_show_the_failing_expectation(settings, warehouse):
    insert_delta(warehouse, "order_payments", [{"order_id": oid("o-missing"), "payment_sequential": 1}])

    failed = failed_gate(settings, "docs-run", ["order_payments", "orders"])

    docs = settings.home / "data_docs"
    assert failed.result.data_docs == str(docs)
    pages = {p.parent.parent.parent.name: p for p in (docs / "validations" / "delta").rglob("*.html") if "docs-run" in p.parts}
    assert set(pages) == {"order_payments", "orders"}
    orphan_check = "unexpected_row_count_expectation (critical): Every order_payments.order_id must exist"
    assert orphan_check in pages["order_payments"].read_text()
    assert orphan_check not in pages["orders"].read_text()


def test_password_never_reaches_data_docs_results_or_logs(olist_home, postgres_url, warehouse, caplog):
    secret_url = sa.engine.make_url(postgres_url).set(password=PASSWORD).render_as_string(hide_password=False)
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=secret_url)
    insert_delta(warehouse, "order_reviews", [{"review_id": oid("r2"), "order_id": oid("o-missing"), "review_score": 2}])
    with warehouse.begin() as conn:
        conn.execute(sa.text("drop table staging_layer.sellers"))
    caplog.set_level(logging.DEBUG)

    failed = failed_gate(settings, "secret-run")

    written = [p for p in olist_home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in written) and any("gx" in p.parts for p in written)
    leaks = [str(p) for p in written if PASSWORD.encode() in p.read_bytes()]
    assert leaks == []
    assert PASSWORD not in str(failed) and PASSWORD not in failed.result.to_json()
    assert PASSWORD not in caplog.text
    assert PASSWORD in settings.warehouse_url.reveal()  # the probe would find it if it leaked


def test_unreachable_warehouse_fails_every_table_without_leaking_the_password(olist_home):
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nowhere")

    failed = failed_gate(settings, "down", ["orders", "customers"], manifest_rows={"orders": 2, "customers": 2})

    assert [(f.table, f.expectation) for f in failed.result.critical_failures] == [("orders", "gx_error"), ("customers", "gx_error")]
    assert "connect" in failed.result.critical_failures[0].error
    written = [p for p in olist_home.rglob("*") if p.is_file()]
    assert (olist_home / "gate_results" / "down" / f"{GATE_NAME}.json") in written
    assert [str(p) for p in written if PASSWORD.encode() in p.read_bytes()] == []
    assert PASSWORD not in str(failed)


def test_unix_socket_url_like_the_embedded_warehouse_is_accepted(olist_home, postgres_url, warehouse):
    socket_dir = Path("/var/run/postgresql")
    if not (socket_dir / ".s.PGSQL.5432").exists():
        unavailable(f"no PostgreSQL Unix socket in {socket_dir}")
    database = sa.engine.make_url(postgres_url).database
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=f"postgresql+psycopg://postgres@/{database}?host={socket_dir}")
    assert gate(settings, "socket-clean", ["orders"]).success

    insert_delta(warehouse, "orders", [{"order_id": oid("o1"), "customer_id": oid("c1"), "order_status": "delivered"}])
    failed = failed_gate(settings, "socket-broken", ["orders"])

    assert [f.expectation for f in failed.result.critical_failures] == ["expect_column_values_to_be_unique"]


def test_gate_task_is_named_uncached_and_never_retried():
    assert validate_delta_tables.name == GATE_NAME
    assert validate_delta_tables.cache_policy is NO_CACHE
    assert validate_delta_tables.retries == 0


def test_gate_task_runs_under_prefect_and_raises_gate_failed(settings, warehouse, prefect_api):
    from prefect import flow

    @flow
    def gate_flow(manifest: RunManifest):
        return validate_delta_tables(settings, manifest)

    clean = manifest_of("flow-clean", write_manifest(settings, "flow-clean", {"orders": 2, "customers": 2}))
    assert gate_flow(clean).success
    insert_delta(warehouse, "orders", [{"order_id": oid("o1"), "customer_id": oid("c1"), "order_status": "created"}])
    with pytest.raises(GateFailed, match="order_id"):
        gate_flow(manifest_of("flow-broken", {"orders": 3, "customers": 2}))


@pytest.mark.slow
def test_gate_over_100k_row_deltas_finds_the_one_orphan(settings, warehouse):
    # Speed is measured in bench/, never asserted here; this checks correctness at volume.
    rows = 100_000
    with warehouse.begin() as conn:
        conn.execute(sa.text(
            "insert into staging_layer.customers (customer_id, customer_unique_id, customer_state) "
            "select md5('big-c' || g), md5('big-u' || g), 'SP' from generate_series(1, :n) g"), {"n": rows})
        conn.execute(sa.text(
            "insert into staging_layer.orders (order_id, customer_id, order_status) "
            "select md5('big-o' || g), md5('big-c' || g), 'delivered' from generate_series(1, :n) g"), {"n": rows})
        conn.execute(sa.text(
            "insert into staging_layer.order_items (order_id, order_item_id, product_id, seller_id, price, freight_value) "
            "select md5('big-o' || g), 1, :p, :s, 1, 1 from generate_series(1, :n) g"), {"n": rows, "p": oid("p1"), "s": oid("s1")})
        conn.execute(sa.text(
            "insert into staging_layer.order_payments (order_id, payment_sequential, payment_type, payment_value) "
            "select md5('big-o' || g), 1, 'boleto', 1 from generate_series(1, :n) g"), {"n": rows})
        conn.execute(sa.text("analyze"))

    assert gate(settings, "big").success
    with warehouse.begin() as conn:
        conn.execute(sa.text("update staging_layer.order_items set product_id = :p where order_id = md5('big-o' || 777)"), {"p": oid("p-gone")})

    with pytest.raises(GateFailed) as blocked:
        gate(settings, "big-orphan")

    orphans = [f for f in blocked.value.result.failed_expectations if f.table == "order_items"]
    assert [f.unexpected_count for f in orphans] == [1]

