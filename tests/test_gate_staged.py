"""Gate 1 (olist_etl/gates/staged.py): the staged CSV parts, streamed before anything is loaded.

Parts are written by the real PartWriter into a local folder or a moto S3 bucket, then one thing
is broken (a value in the rows, or the bytes of a part) and the gate runs on the manifest.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from olist_etl.settings import Settings
from olist_etl.staging import StagingError, open_staging, read_json
from olist_etl.tables import TABLE_NAMES, get_table
from olist_etl.manifest import RunManifest, TableExtract, rejects_key
from olist_etl.stage import PartWriter
from olist_etl.gates.results import GateFailed
from olist_etl.gates import part_scan
from olist_etl.gates.staged import GATE_NAME, MAX_LENGTHS, PATTERNS, check_parts, run_staged_gate
from olist_etl.gates.suites import load_document, suite_from_dict, suite_path
from olist_etl.load import LoadError, create_warehouse
from tests.support.services import make_settings

pytestmark = pytest.mark.integration


def load_staged_suite(table: str) -> dict:
    return load_document("staged", table)


def staged_suite_path(table: str):
    return suite_path("staged", table)

RUN = "20261124T100000Z-abcdef"
NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)
TEXT = 'He said "ótimo, chegou rápido"\nsegunda linha; vírgula, aspas "" e emoji 😀👍'


def oid(n: int) -> str:
    return f"{n:032x}"


def clean_rows() -> dict[str, list[dict]]:
    ts = "2018-01-02 10:00:00"
    return {
        "orders": [
            {"order_id": oid(1), "customer_id": oid(10), "order_status": "delivered", "order_purchase_timestamp": "2018-01-01 09:00:00",
             "order_approved_at": ts, "order_delivered_customer_date": "2018-01-05 12:00:00", "order_estimated_delivery_date": "2030-01-01 00:00:00"},
            {"order_id": oid(2), "customer_id": oid(11), "order_status": "shipped", "order_purchase_timestamp": ts},
        ],
        "order_items": [
            {"order_id": oid(1), "order_item_id": 1, "product_id": oid(20), "seller_id": oid(30), "shipping_limit_date": ts, "price": "10.50", "freight_value": "0.00"},
            {"order_id": oid(1), "order_item_id": 2, "product_id": oid(20), "seller_id": oid(30), "shipping_limit_date": ts, "price": "3.00", "freight_value": "1.25"},
        ],
        "order_payments": [{"order_id": oid(1), "payment_sequential": 1, "payment_type": "credit_card", "payment_installments": 0, "payment_value": "13.50"}],
        "order_reviews": [{"review_id": oid(40), "order_id": oid(1), "review_score": 5, "review_comment_message": TEXT, "review_creation_date": ts}],
        "customers": [{"customer_id": oid(10), "customer_unique_id": oid(50), "customer_zip_code_prefix": "01310", "customer_city": "são paulo", "customer_state": "SP"}],
        "sellers": [{"seller_id": oid(30), "seller_zip_code_prefix": "20040", "seller_city": "rio de janeiro", "seller_state": "RJ"}],
        "products": [{"product_id": oid(20), "product_category_name": "beleza_saude", "product_weight_g": 300, "product_length_cm": 16}],
        "geolocation": [{"geolocation_id": 1, "geolocation_zip_code_prefix": "01310", "geolocation_lat": -23.56, "geolocation_lng": -46.65, "geolocation_state": "SP"}],
        "product_category_name_translation": [{"product_category_name": "beleza_saude", "product_category_name_english": "health_beauty"}],
    }


def stage(area, rows_by_table: dict[str, list[dict]], *, mode: str = "incremental", part_rows: int = 1) -> RunManifest:
    """Stage rows like the extract does (one row per part by default, so parts are many) and build the manifest."""
    tables = {}
    for table, rows in rows_by_table.items():
        columns = list(get_table(table).staged_columns)
        writer = PartWriter(area, RUN, table, columns, part_rows)
        writer.write([[row.get(c, "2018-01-03 00:00:00.123456" if c == "updated_at" else None) for c in columns] for row in rows])
        extract = TableExtract(table=table, columns=columns, parts=writer.close())
        extract.rows = sum(p.rows for p in extract.parts)
        tables[table] = extract
    return RunManifest(run_id=RUN, mode=mode, created_at=NOW.isoformat(), staging_url=area.url, tables=tables)


def rewrite_part(area, key: str, text: str) -> None:
    with area.writer(key) as raw, gzip.GzipFile(fileobj=raw, mode="wb") as gz:
        gz.write(text.encode("utf-8"))


def read_part(area, key: str) -> str:
    with area.reader(key) as raw:
        return gzip.decompress(raw.read()).decode("utf-8")


@pytest.fixture(params=["local", "s3"])
def area_settings(request, olist_home, tmp_path):
    url = (tmp_path / "staging").as_uri() if request.param == "local" else request.getfixturevalue("s3_staging_url")
    # Gate 1 runs GX on the landing tables in the warehouse.
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=request.getfixturevalue("postgres_url"), staging_url=url)
    create_warehouse(settings)
    return open_staging(url), settings


def failed(settings, manifest, **kw) -> GateFailed:
    with pytest.raises(GateFailed) as info:
        run_staged_gate(settings, manifest, previous_rows=kw.pop("previous_rows", {}), **kw)
    return info.value


# --- the suite files ----------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_staged_suite_is_a_gx_suite_whose_header_is_the_catalog_columns(table):
    document = load_staged_suite(table)
    suite = suite_from_dict(document)  # GX validates every type and kwarg
    assert len(suite.expectations) == len(document["expectations"])
    header = [e for e in document["expectations"] if e["type"] == "expect_table_columns_to_match_ordered_list"]
    assert [h["kwargs"]["column_list"] for h in header] == [list(get_table(table).staged_columns)]
    spec = get_table(table)
    not_null = {e["kwargs"]["column"] for e in document["expectations"] if e["type"] == "expect_column_values_to_not_be_null"}
    assert set(spec.primary_key) <= not_null


def pattern_mismatches(table: str, document: dict) -> dict:
    """Number and timestamp columns whose critical regex is not the pattern the typed copy casts by."""
    kinds = {c.name: c.kind for c in get_table(table).columns} | {"updated_at": "timestamp"}
    regexes = {e["kwargs"]["column"]: e["kwargs"]["regex"] for e in document["expectations"]
               if e["type"] == "expect_column_values_to_match_regex" and e["meta"]["severity"] == "critical"}
    return {name: regexes.get(name) for name, kind in kinds.items() if kind in PATTERNS and regexes.get(name) != PATTERNS[kind]}


def length_mismatches(table: str, document: dict) -> dict:
    """Number columns whose critical length check is missing or is not the length the typed copy casts by."""
    kinds = {c.name: c.kind for c in get_table(table).columns}
    lengths = {e["kwargs"]["column"]: e["kwargs"].get("max_value") for e in document["expectations"]
               if e["type"] == "expect_column_value_lengths_to_be_between" and e["meta"]["severity"] == "critical"}
    return {name: lengths.get(name) for name, kind in kinds.items() if kind in MAX_LENGTHS and lengths.get(name) != MAX_LENGTHS[kind]}


@pytest.mark.parametrize("table", TABLE_NAMES)
def test_every_number_and_timestamp_column_is_checked_by_the_pattern_its_typed_copy_casts(table):
    # A value the regex lets through but the typed copy cannot cast would skip the range checks.
    assert pattern_mismatches(table, load_staged_suite(table)) == {}
    # The number patterns are unbounded (`+`): their length check is what keeps a match castable.
    assert length_mismatches(table, load_staged_suite(table)) == {}


def _calendar_day(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def test_the_timestamp_pattern_matches_exactly_the_real_calendar_days():
    # Leap-year rules at every century kind, the first and last years a timestamp holds.
    years = [*range(0, 9), *range(96, 105), *range(396, 405), *range(1896, 1905), *range(1996, 2005), *range(2096, 2105), *range(9990, 10000)]
    candidates = [f"{y:04d}-{m:02d}-{d:02d}" for y in years for m in range(0, 14) for d in range(0, 33)]
    pattern = re.compile(PATTERNS["timestamp"])

    disagree = [text for text in candidates if bool(pattern.search(text)) != _calendar_day(text)]

    assert disagree == []
    assert pattern.search("2016-02-29 23:59:59.999999") and not pattern.search("2017-02-29 00:00:00")
    assert not pattern.search("0000-01-01") and not pattern.search("1900-02-29") and pattern.search("2000-02-29")


def _accepted(kind: str, text: str) -> bool:
    """What gate 1 lets through: the kind's pattern, within its length for numbers."""
    return bool(re.search(PATTERNS[kind], text)) and len(text) <= MAX_LENGTHS.get(kind, len(text))


@pytest.mark.parametrize(("text", "castable"), [
    ("1e277", True), ("-9.99e-277", True), ("1E+099", True), ("0.5e0", True), ("-23.5456", True),
    ("9" * 31, True), ("9" * 27 + "e277", True), ("0." + "0" * 23 + "1e-277", True),
    ("1e278", False), ("1e-278", False), ("1e999", False), ("-1e-400", False), ("1e0277", False), ("inf", False), ("NaN", False),
    ("9" * 32, False), ("0." + "0" * 400 + "1", False), ("1" + "0" * 400, False),
])
def test_the_float_pattern_and_length_accept_only_what_double_precision_holds(text, castable):
    accepted = _accepted("float", text)

    assert accepted is castable
    if accepted:  # at most 31 characters with an exponent up to 277: inside DOUBLE PRECISION's normal range
        assert math.isfinite(float(text)) and (float(text) == 0 or abs(float(text)) > 2.3e-308)


@pytest.mark.parametrize(("text", "accepted"), [
    ("10.50", True), ("10.5", True), ("10", True), ("-0.01", True), ("10.500000", True), ("0.10", True),
    ("10.505", False), ("10.001", False), ("0.0001", False), ("10.", False), (".5", False), ("1e2", False), ("10.5050", False),
])
def test_the_money_pattern_accepts_cents_and_trailing_zeros_only(text, accepted):
    # NUMERIC(12,2) would round a third decimal away without a word: 10.505 must be named, not stored as 10.51.
    assert _accepted("money", text) is accepted


# The widest text of each kind gate 1 accepts, and text just past it.
WIDEST_ACCEPTED = {
    "int": ["9" * 18, "-" + "9" * 17, "0" * 18],
    "money": ["9" * 32, "-" + "9" * 31, "0.99" + "0" * 28],
    "float": ["9" * 31, "-" + "9" * 26 + "e277", "0." + "0" * 23 + "1e-277", "-9." + "9" * 23 + "E+277"],
}
JUST_PAST = {"int": ["9" * 19, "-" + "9" * 18], "money": ["9" * 33], "float": ["9" * 32, "9" * 28 + "e277"]}


@pytest.mark.parametrize("kind", sorted(WIDEST_ACCEPTED))
def test_the_widest_accepted_numbers_cast_in_the_warehouse(postgres_url, kind):
    import sqlalchemy as sa

    from olist_etl.gates.staged import WIDE_TYPES

    assert all(_accepted(kind, text) for text in WIDEST_ACCEPTED[kind])
    assert not any(_accepted(kind, text) for text in JUST_PAST[kind])
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            # Redshift's wide types, the narrower (NUMERIC(38,6) against PostgreSQL's unbounded
            # NUMERIC); PostgreSQL implements them with the same limits.
            wide_type = WIDE_TYPES["redshift"][kind]
            for text in WIDEST_ACCEPTED[kind]:  # raises if the typed copy could not cast it
                conn.execute(sa.text(f"select cast(:v as {wide_type})"), {"v": text}).scalar()
            # Int and money lengths are the types' own limits: one digit more does not cast. The
            # float length is conservative (with exponents up to 277), so only far past it.
            overflow = "9" * 310 if kind == "float" else JUST_PAST[kind][0]
            with pytest.raises(sa.exc.DBAPIError):
                conn.execute(sa.text(f"select cast(:v as {wide_type})"), {"v": overflow}).scalar()
    finally:
        engine.dispose()


# What the delta tables hold for each numeric kind (sql/warehouse/macros.jinja): INTEGER and NUMERIC(12,2).
WAREHOUSE_RANGES = {"int": (-2_147_483_648, 2_147_483_647), "money": (-9_999_999_999.99, 9_999_999_999.99)}


def _critical_bounds(document: dict, column: str) -> list[tuple]:
    bounds = []
    for entry in document["expectations"]:
        kwargs = entry["kwargs"]
        if kwargs.get("column") != column or entry["meta"]["severity"] != "critical" or "mostly" in kwargs or kwargs.get("row_condition"):
            continue
        if entry["type"] == "expect_column_values_to_be_between":
            bounds.append((kwargs.get("min_value"), kwargs.get("max_value")))
        elif entry["type"] == "expect_column_values_to_be_in_set":
            bounds.append((min(kwargs["value_set"]), max(kwargs["value_set"])))
    return bounds


def unbounded_numbers(table: str, document: dict) -> list[str]:
    """Number columns without a critical check on each side inside their warehouse type. A check
    with `mostly` or a row_condition bounds only some rows, so it does not count."""
    unbounded = []
    for column in get_table(table).columns:
        if column.kind not in WAREHOUSE_RANGES:
            continue
        low, high = WAREHOUSE_RANGES[column.kind]
        bounds = _critical_bounds(document, column.name)
        has_low = any(isinstance(lo, (int, float)) and lo >= low for lo, _ in bounds)
        has_high = any(isinstance(hi, (int, float)) and hi <= high for _, hi in bounds)
        if not (has_low and has_high):
            unbounded.append(f"{table}.{column.name}")
    return unbounded


def test_every_staged_number_is_bounded_by_its_warehouse_type():
    # The cast pattern only proves a value parses; a value past the delta column's type would pass
    # gate 1 and then fail the load's CAST without naming its column. Each side may come from a
    # different critical check (e.g. price >= 0 and price <= the NUMERIC(12,2) maximum).
    assert [name for table in TABLE_NAMES for name in unbounded_numbers(table, load_staged_suite(table))] == []


def test_the_bound_check_sees_a_column_left_unbounded_or_bounded_only_mostly():
    removed = load_staged_suite("products")
    removed["expectations"] = [e for e in removed["expectations"]
                               if not (e["kwargs"].get("column") == "product_weight_g" and e["kwargs"].get("max_value") == 2_147_483_647)]
    mostly = load_staged_suite("geolocation")
    for entry in mostly["expectations"]:
        if entry["kwargs"].get("column") == "geolocation_id" and entry["type"] == "expect_column_values_to_be_between":
            entry["kwargs"]["mostly"] = 0.5

    assert unbounded_numbers("products", removed) == ["products.product_weight_g"]
    assert unbounded_numbers("geolocation", mostly) == ["geolocation.geolocation_id"]


def _text_summary(*checks: tuple) -> dict:
    """A text suite's summary as from_validation writes it: (expectation, kwargs, success, unexpected)."""
    return {"expectations": [{"expectation": e, "kwargs": k, "success": ok, "unexpected_count": n} for e, k, ok, n in checks]}


def _regex(column: str, kind: str, ok: bool = True, unexpected: int = 0, **extra) -> tuple:
    return ("expect_column_values_to_match_regex", {"column": column, "regex": PATTERNS[kind], **extra}, ok, unexpected)


def _length(column: str, kind: str, ok: bool = True, unexpected: int = 0) -> tuple:
    return ("expect_column_value_lengths_to_be_between", {"column": column, "max_value": MAX_LENGTHS[kind]}, ok, unexpected)


def test_a_column_is_cast_without_its_guard_only_when_the_text_suite_proved_every_value():
    from olist_etl.gates.staged import well_formed_columns

    proved = _text_summary(_regex("updated_at", "timestamp"), _regex("geolocation_id", "int"), _length("geolocation_id", "int"))
    assert well_formed_columns("geolocation", proved) == {"updated_at", "geolocation_id"}

    not_proved = {
        "one malformed value": _text_summary(_regex("updated_at", "timestamp", ok=False, unexpected=1)),
        "passed by mostly, one malformed": _text_summary(_regex("updated_at", "timestamp", unexpected=1)),
        "another pattern": _text_summary(("expect_column_values_to_match_regex", {"column": "updated_at", "regex": ".*"}, True, 0)),
        "some rows only": _text_summary(_regex("updated_at", "timestamp", row_condition='geolocation_state=="SP"')),
        "the check raised": _text_summary(_regex("updated_at", "timestamp", ok=False, unexpected=None)),
        "a number without its length check": _text_summary(_regex("geolocation_id", "int")),
        "a number too long somewhere": _text_summary(_regex("geolocation_id", "int"), _length("geolocation_id", "int", ok=False, unexpected=1)),
        "the suite errored": {"table": "geolocation", "suite": "staged.geolocation", "success": False, "error": "boom"},
    }
    for case, summary in not_proved.items():
        assert well_formed_columns("geolocation", summary) == frozenset(), case


def test_the_typed_copy_drops_the_guard_only_for_the_proved_columns():
    from olist_etl.gates.staged import MAX_LENGTHS as lengths, WIDE_TYPES, typed_table
    from olist_etl.load import landing_table, staged_column_specs
    from olist_etl.sqlfiles import render

    def select_line(dialect: str, column: str, well_formed: list[str]) -> str:
        sql = render("warehouse/load/landing_typed.sql", dialect, landing=landing_table("geolocation"), typed=typed_table("geolocation"),
                     columns=staged_column_specs(get_table("geolocation")), patterns=PATTERNS, max_lengths=lengths,
                     wide_types=WIDE_TYPES[dialect], well_formed=well_formed)
        return next(line for line in sql.splitlines() if line.rstrip(",").endswith(f'AS "{column}"'))

    for dialect in ("postgresql", "redshift"):
        assert "~" not in select_line(dialect, "updated_at", ["updated_at"])
        assert PATTERNS["timestamp"] in select_line(dialect, "updated_at", ["geolocation_id"])
        assert "LENGTH" in select_line(dialect, "geolocation_lat", []) and "~" in select_line(dialect, "geolocation_lat", [])


def test_a_suite_regex_other_than_the_cast_pattern_is_found():
    document = load_staged_suite("orders")
    entry = next(e for e in document["expectations"] if e["type"] == "expect_column_values_to_match_regex")
    entry["kwargs"]["regex"] = ".*"
    assert pattern_mismatches("orders", document) == {entry["kwargs"]["column"]: ".*"}


def test_a_number_column_without_its_length_check_is_found():
    document = load_staged_suite("geolocation")
    document["expectations"] = [e for e in document["expectations"]
                                if not (e["type"] == "expect_column_value_lengths_to_be_between" and e["kwargs"]["column"] == "geolocation_lat")]
    assert length_mismatches("geolocation", document) == {"geolocation_lat": None}


def test_staged_suite_without_severity_is_rejected(tmp_path, monkeypatch):
    document = json.loads(staged_suite_path("orders").read_text())
    del document["expectations"][3]["meta"]["severity"]
    folder = tmp_path / "expectations" / "staged"
    folder.mkdir(parents=True)
    (folder / "orders.json").write_text(json.dumps(document))
    monkeypatch.setattr("olist_etl.gates.suites.resource_dir", lambda name: tmp_path / name)
    with pytest.raises(ValueError, match="severity"):
        load_staged_suite("orders")


# --- clean data ---------------------------------------------------------------------------------


def test_clean_parts_pass_and_the_result_is_written(area_settings):
    area, settings = area_settings
    manifest = stage(area, clean_rows())

    staged = run_staged_gate(settings, manifest, previous_rows={})

    assert staged.result.success, staged.result.failed_expectations
    assert staged.result.failed_expectations == []
    assert {r["table"] for r in staged.result.results} == set(TABLE_NAMES)
    assert all(e["success"] for r in staged.result.results for e in r["expectations"])
    assert staged.manifest == manifest
    written = json.loads((settings.home / "gate_results" / RUN / f"{GATE_NAME}.json").read_text())
    assert written["success"] is True and written["name"] == GATE_NAME
    # Data docs: GX's checkpoint rendered a validation page per suite of this run.
    assert staged.result.data_docs == str(settings.home / "data_docs")
    assert list((settings.home / "data_docs" / "validations" / "staged" / "orders").rglob("*.html"))
    # The text with quotes, commas, a newline, accents and emoji is one well-formed row.
    assert next(r for r in staged.result.results if r["table"] == "order_reviews")["rows"] == 1


def test_money_without_decimals_or_with_trailing_zeros_passes(area_settings):
    area, settings = area_settings
    rows = clean_rows()
    rows["order_items"][0].update(price="10.5000", freight_value="7")
    rows["order_payments"][0].update(payment_value="13.5")

    staged = run_staged_gate(settings, stage(area, rows), previous_rows={})

    assert staged.result.success, staged.result.failed_expectations


# --- one broken thing, one named failure ----------------------------------------------------------


def _set(table, index, **values):
    def apply(rows):
        rows[table][index].update(values)
    return apply


def _append(table, row):
    def apply(rows):
        rows[table].append(row)
    return apply


VALUE_CASES = {
    "null key": (_set("orders", 1, customer_id=None), "orders", "expect_column_values_to_not_be_null", "customer_id", None),
    "unknown order_status": (_set("orders", 1, order_status="teleported"), "orders", "expect_column_values_to_be_in_set", "order_status", "teleported"),
    "negative price": (_set("order_items", 1, price="-4.00"), "order_items", "expect_column_values_to_be_between", "price", "-4.00"),
    "review_score 7": (_set("order_reviews", 0, review_score=7), "order_reviews", "expect_column_values_to_be_in_set", "review_score", 7),
    "unparseable timestamp": (_set("orders", 0, order_approved_at="2018-02-30 25:00:00"), "orders", "expect_column_values_to_match_regex", "order_approved_at", "2018-02-30 25:00:00"),
    # Well-shaped but not castable: reported by the regex on its column, not as the typed copy's error.
    "a February 29 of a common year": (_set("orders", 0, order_approved_at="2019-02-29 10:00:00"), "orders", "expect_column_values_to_match_regex", "order_approved_at", "2019-02-29 10:00:00"),
    "April 31": (_set("order_items", 0, shipping_limit_date="2018-04-31 10:00:00"), "order_items", "expect_column_values_to_match_regex", "shipping_limit_date", "2018-04-31 10:00:00"),
    "year zero": (_set("order_items", 0, shipping_limit_date="0000-01-01 00:00:00"), "order_items", "expect_column_values_to_match_regex", "shipping_limit_date", "0000-01-01 00:00:00"),
    "a float beyond double precision": (_set("geolocation", 0, geolocation_lat="1e999"), "geolocation", "expect_column_values_to_match_regex", "geolocation_lat", "1e999"),
    "a float below double precision": (_set("geolocation", 0, geolocation_lng="-1e-400"), "geolocation", "expect_column_values_to_match_regex", "geolocation_lng", "-1e-400"),
    "empty string timestamp": (_set("orders", 0, order_approved_at=""), "orders", "expect_column_values_to_match_regex", "order_approved_at", ""),
    "4-digit zip prefix": (_set("customers", 0, customer_zip_code_prefix="1310"), "customers", "expect_column_values_to_match_regex", "customer_zip_code_prefix", "1310"),
    "unknown state": (_set("sellers", 0, seller_state="XX"), "sellers", "expect_column_values_to_be_in_set", "seller_state", "XX"),
    "unknown payment type": (_set("order_payments", 0, payment_type="bitcoin"), "order_payments", "expect_column_values_to_be_in_set", "payment_type", "bitcoin"),
    "negative installments": (_set("order_payments", 0, payment_installments=-1), "order_payments", "expect_column_values_to_be_between", "payment_installments", -1),
    "negative product weight": (_set("products", 0, product_weight_g=-1), "products", "expect_column_values_to_be_between", "product_weight_g", -1),
    "zero product length": (_set("products", 0, product_length_cm=0), "products", "expect_column_values_to_be_between", "product_length_cm", 0),
    "decimal that is not a number": (_set("order_items", 0, freight_value="1,25"), "order_items", "expect_column_values_to_match_regex", "freight_value", "1,25"),
    # Parses as an integer but does not fit the delta table's INTEGER: named here, not by the load's CAST.
    "a product weight past INTEGER": (_set("products", 0, product_weight_g="3000000000"), "products", "expect_column_values_to_be_between", "product_weight_g", 3000000000),
    "a geolocation id past INTEGER": (_set("geolocation", 0, geolocation_id="2147483648"), "geolocation", "expect_column_values_to_be_between", "geolocation_id", 2147483648),
    "a name length below INTEGER": (_set("products", 0, product_name_length="-2147483649"), "products", "expect_column_values_to_be_between", "product_name_length", -2147483649),
    # Digits only, but too many to cast: named by the length check, not by the typed copy's error.
    "an integer of 19 digits": (_set("products", 0, product_photos_qty="1" * 19), "products", "expect_column_value_lengths_to_be_between", "product_photos_qty", "1" * 19),
    "a float of 400 digits": (_set("geolocation", 0, geolocation_lat="1" + "0" * 399), "geolocation", "expect_column_value_lengths_to_be_between", "geolocation_lat", "1" + "0" * 399),
    # A fraction of a cent: the NUMERIC(12,2) load would round it away unseen.
    "a price with a fraction of a cent": (_set("order_items", 1, price="10.505"), "order_items", "expect_column_values_to_match_regex", "price", "10.505"),
    "a payment with a fraction of a cent": (_set("order_payments", 0, payment_value="99.999"), "order_payments", "expect_column_values_to_match_regex", "payment_value", "99.999"),
    "a price of 33 digits": (_set("order_items", 1, price="1" * 33), "order_items", "expect_column_value_lengths_to_be_between", "price", "1" * 33),
    "purchase after the run's time": (_set("orders", 1, order_purchase_timestamp="2027-01-01 00:00:00"), "orders", "expect_column_values_to_be_between", "order_purchase_timestamp", "2027-01-01 00:00:00"),
}


@pytest.mark.parametrize("case", VALUE_CASES)
def test_a_bad_value_blocks_with_table_expectation_column_count_and_sample(area_settings, case):
    area, settings = area_settings
    apply, table, expectation, column, sample = VALUE_CASES[case]
    rows = clean_rows()
    apply(rows)

    blocked = failed(settings, stage(area, rows))

    critical = blocked.result.critical_failures
    assert [(f.table, f.expectation, f.column) for f in critical] == [(table, expectation, column)]
    assert critical[0].unexpected_count == 1
    assert critical[0].sample_values == [sample]
    message = str(blocked)
    assert f"{table}.{column}: {expectation}, 1 unexpected" in message
    if sample is not None:
        assert json.dumps(sample) in message


def test_the_real_products_pass_and_their_zero_weights_are_only_a_warning(request, olist_home, tmp_path, shared_real):
    spec = get_table("products")
    renames = dict(spec.kaggle_renames)
    with open(shared_real / "olist_products_dataset.csv", encoding="utf-8-sig", newline="") as src:
        rows = [{renames.get(k, k): (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(src)]
    area = open_staging((tmp_path / "staging").as_uri())
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=request.getfixturevalue("postgres_url"), staging_url=area.url)
    create_warehouse(settings)

    staged = run_staged_gate(settings, stage(area, {"products": rows}, part_rows=10_000), previous_rows={})

    assert staged.result.success, staged.result.failed_expectations
    assert [(f.column, f.severity, f.unexpected_count, f.sample_values) for f in staged.result.failed_expectations] == [
        ("product_weight_g", "warning", 4, [0, 0, 0, 0])  # GX lists each unexpected value
    ]
    assert staged.result.results[0]["rows"] == len(rows) == 32_951
    weights = [e for r in staged.result.results for e in r["expectations"] if e["column"] == "product_weight_g" and not e["success"]]
    assert [(e["unexpected_count"], e["element_count"]) for e in weights] == [(4, 32_951)]


def test_timestamp_order_is_a_warning_that_does_not_block(area_settings):
    area, settings = area_settings
    rows = clean_rows()
    rows["orders"][0]["order_approved_at"] = "2017-12-31 00:00:00"  # before the purchase

    staged = run_staged_gate(settings, stage(area, rows), previous_rows={})

    assert staged.result.success
    assert [(f.expectation, f.column, f.severity) for f in staged.result.failed_expectations] == [
        ("expect_column_pair_values_a_to_be_greater_than_b", ["order_approved_at", "order_purchase_timestamp"], "warning")
    ]


# --- the bytes of a part ------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["dropped", "added"])
def test_schema_drift_in_a_part_header_names_the_column(area_settings, change):
    area, settings = area_settings
    manifest = stage(area, clean_rows())
    key = manifest.tables["sellers"].parts[0].key
    text = read_part(area, key)
    header, body = text.split("\n", 1)
    if change == "dropped":
        text = header.replace("seller_city,", "") + "\n" + body
    else:
        text = header + ",seller_rating\n" + body
    rewrite_part(area, key, text)

    blocked = failed(settings, manifest)

    critical = blocked.result.critical_failures
    assert [(f.table, f.expectation) for f in critical] == [("sellers", "expect_table_columns_to_match_ordered_list")]
    assert critical[0].sample_values == [{"part": key, "missing": ["seller_city"]} if change == "dropped" else {"part": key, "added": ["seller_rating"]}]
    assert ("seller_city" if change == "dropped" else "seller_rating") in str(blocked)


def test_rows_in_parts_must_reconcile_with_the_manifest(area_settings):
    area, settings = area_settings
    manifest = stage(area, clean_rows())
    assert run_staged_gate(settings, manifest, previous_rows={}).result.success
    manifest.tables["orders"].parts[0].rows = 2  # the extract said 3, the parts hold 2
    manifest.tables["orders"].rows = 3

    # The landing COPY counts each part's rows: nothing reaches GX, let alone the delta table.
    with pytest.raises(LoadError, match="orders: part .* held 1 rows but the manifest lists 2"):
        run_staged_gate(settings, manifest, previous_rows={})


def test_empty_full_extract_blocks_when_the_previous_run_had_rows_and_a_jump_is_a_warning(area_settings):
    area, settings = area_settings
    rows = clean_rows()
    rows["sellers"] = []
    manifest = stage(area, rows, mode="full")

    blocked = failed(settings, manifest, previous_rows={"sellers": 40})
    assert [(f.table, f.expectation, f.severity) for f in blocked.result.critical_failures] == [
        ("sellers", "expect_table_row_count_to_be_between", "critical")
    ]

    # Without a previous full run, an empty table is just empty; 2 orders after 40 is only a warning.
    staged = run_staged_gate(settings, manifest, previous_rows={"orders": 40})
    assert staged.result.success
    assert [(f.table, f.severity) for f in staged.result.failed_expectations] == [("orders", "warning")]


def test_malformed_row_blocks_is_written_to_rejects_and_an_explicit_threshold_drops_it(area_settings):
    area, settings = area_settings
    manifest = stage(area, clean_rows())
    key = manifest.tables["sellers"].parts[0].key
    text = read_part(area, key)
    # An unquoted comma inside the city: one field too many on line 3 (the header is line 1).
    rewrite_part(area, key, text + oid(31) + ",20040,rio de janeiro, centro,RJ,2018-01-03 00:00:00\n")
    manifest.tables["sellers"].rows += 1
    manifest.tables["sellers"].parts[0].rows += 1

    blocked = failed(settings, manifest)

    critical = blocked.result.critical_failures
    assert [(f.table, f.expectation, f.unexpected_count) for f in critical] == [("sellers", "expect_table_column_count_to_equal", 1)]
    assert critical[0].sample_values == [{"part": key, "line": 3, "fields": 6}]
    with area.reader(rejects_key(RUN, "sellers")) as src:
        rejects = list(csv.DictReader(io.StringIO(src.read().decode("utf-8"))))
    assert [(r["part"], r["line"], r["fields"]) for r in rejects] == [(key, "3", "6")]
    assert "rio de janeiro" in rejects[0]["row"]

    # Allowed explicitly: the run passes, the part loses the malformed row, the manifest follows.
    staged = run_staged_gate(replace(settings, max_rejected_rows=1), manifest, previous_rows={})
    assert staged.result.success
    assert [(f.expectation, f.severity) for f in staged.result.failed_expectations] == [("expect_table_column_count_to_equal", "warning")]
    assert staged.manifest.tables["sellers"].rows == 1
    assert read_part(area, key) == text
    assert read_json(area, f"runs/{RUN}/manifest.json")["tables"]["sellers"]["rows"] == 1


def test_threshold_from_the_environment_below_the_count_still_blocks(area_settings):
    area, settings = area_settings
    manifest = stage(area, clean_rows())
    key = manifest.tables["customers"].parts[0].key
    rewrite_part(area, key, read_part(area, key) + "a,b\nc,d,e\n")
    manifest.tables["customers"].rows += 2

    def from_env(value: str) -> Settings:
        env = {"OLIST_HOME": str(settings.home), "OLIST_STAGING_URL": settings.staging_url, "OLIST_MAX_REJECTED_ROWS": value,
               "OLIST_WAREHOUSE_URL": settings.warehouse_url.reveal()}
        return Settings.from_env(env)

    blocked = failed(from_env("1"), manifest)

    assert blocked.result.critical_failures[0].unexpected_count == 2
    staged = run_staged_gate(from_env("2"), manifest, previous_rows={})
    assert staged.result.success
    assert "Allowed: 2 <= OLIST_MAX_REJECTED_ROWS=2." in staged.result.failed_expectations[0].description


def test_a_broken_quote_can_never_be_allowed_by_the_threshold(area_settings):
    area, settings = area_settings
    manifest = stage(area, clean_rows())
    key = manifest.tables["customers"].parts[0].key
    rewrite_part(area, key, read_part(area, key) + 'x,"unterminated\n')
    manifest.tables["customers"].rows += 1

    blocked = failed(replace(settings, max_rejected_rows=100), manifest)

    assert [f.expectation for f in blocked.result.critical_failures] == ["expect_table_column_count_to_equal"]


def _malformed_run(area):
    """Staged parts with what the structural pass must find, spread over tables and parts: more
    malformed records than the sample keeps (across two parts), a broken quote, a wrong header."""
    manifest = stage(area, clean_rows())
    items = [p.key for p in manifest.tables["order_items"].parts]
    for index, key in enumerate(items):  # 3 + 3 short records over order_items' two parts
        rewrite_part(area, key, read_part(area, key) + "".join(f"x{index},{line}\n" for line in range(3)))
        manifest.tables["order_items"].parts[index].rows += 3
    customers = manifest.tables["customers"].parts[0].key
    rewrite_part(area, customers, read_part(area, customers) + 'a,b\nx,"unterminated\nc,d\n')
    sellers = manifest.tables["sellers"].parts[0].key
    text = read_part(area, sellers)
    rewrite_part(area, sellers, text.replace("seller_city", "city", 1))
    return manifest


def _structural_outcome(area, settings, manifest):
    with pytest.raises(GateFailed) as info:  # the malformed records block before any COPY
        check_parts(settings, manifest)
    outcome = info.value.result
    failures = [(f.table, f.expectation, f.severity, f.unexpected_count, f.sample_values, f.rejects) for f in outcome.failed_expectations]
    rejects = {}
    for table in ("order_items", "customers"):
        with area.reader(rejects_key(RUN, table)) as src:
            rejects[table] = src.read()
    return outcome.results, failures, rejects


def test_the_structural_pass_in_worker_processes_finds_exactly_what_the_serial_pass_finds(area_settings, monkeypatch):
    area, settings = area_settings
    manifest = _malformed_run(area)
    serial = _structural_outcome(area, settings, manifest)
    workers = []
    run_worker = part_scan._run_worker

    def recorded(staging_url, parts, *args):
        workers.append(len(parts))
        return run_worker(staging_url, parts, *args)

    monkeypatch.setattr(part_scan, "PARALLEL_MIN_ROWS", 0)  # this tiny run goes to the worker processes
    monkeypatch.setattr(part_scan, "_run_worker", recorded)

    in_workers = _structural_outcome(area, settings, manifest)

    parts = sum(len(e.parts) for e in manifest.tables.values())
    assert len(workers) == min(os.cpu_count(), parts) > 1 and sum(workers) == parts  # every part scanned in a worker
    assert in_workers == serial
    # The serial pass is itself right: counts, the first five samples in part order, every reject kept.
    results, failures, rejects = serial
    by_table = {(f[0], f[1]): f for f in failures}
    items = [p.key for p in manifest.tables["order_items"].parts]
    assert by_table[("order_items", "expect_table_column_count_to_equal")][3] == 6
    assert by_table[("order_items", "expect_table_column_count_to_equal")][4] == (
        [{"part": items[0], "line": 3 + i, "fields": 2} for i in range(3)] + [{"part": items[1], "line": 3 + i, "fields": 2} for i in range(2)])
    assert [line.split(",")[:2] for line in rejects["order_items"].decode().splitlines()[1:]] == (
        [[items[0], str(3 + i)] for i in range(3)] + [[items[1], str(3 + i)] for i in range(3)])
    assert by_table[("customers", "expect_table_column_count_to_equal")][3] == 2  # "a,b", then the broken quote ends the part
    assert "csv error" in rejects["customers"].decode()
    assert by_table[("sellers", "expect_table_columns_to_match_ordered_list")][3] == 1
    assert next(r for r in results if r["table"] == "customers")["unreadable_parts"] == 1


def test_a_staging_error_in_a_scan_worker_reaches_the_gate_with_its_kind(s3_staging_url, olist_home, monkeypatch):
    area = open_staging(s3_staging_url)
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=None, staging_url=s3_staging_url)
    manifest = stage(area, clean_rows())
    gone = manifest.tables["orders"].parts[1].key  # deleted between the extract and the gate
    area._client.delete_object(Bucket=area.bucket, Key=area._key(gone))
    monkeypatch.setattr(part_scan, "PARALLEL_MIN_ROWS", 0)

    with pytest.raises(StagingError) as info:
        check_parts(settings, manifest)

    assert gone in str(info.value)
    assert info.value.transient is False  # a missing object will not come back: no retry


def test_scan_workers_use_every_core_only_for_big_runs():
    cores = os.cpu_count()
    assert part_scan.scan_workers(part_scan.PARALLEL_MIN_ROWS, 100) == min(cores, 100)
    assert part_scan.scan_workers(part_scan.PARALLEL_MIN_ROWS, 1) == 1
    assert part_scan.scan_workers(part_scan.PARALLEL_MIN_ROWS - 1, 100) == 1


# --- business wall clock versus the run's UTC time --------------------------------------------------


@pytest.mark.parametrize(("ahead", "blocks"), [(timedelta(hours=13), False), (timedelta(hours=15), True)])
def test_a_business_clock_ahead_of_utc_passes_until_the_widest_offset(area_settings, ahead, blocks):
    # A purchase stamped by a business in +13:00 reads 13 h after the run's UTC start and is real;
    # 15 h ahead is beyond every time zone (+14:00 at most), so it is a clock or data-entry error.
    area, settings = area_settings
    rows = clean_rows()
    purchase = (NOW + ahead).strftime("%Y-%m-%d %H:%M:%S")
    rows["orders"][0].update(order_purchase_timestamp=purchase, order_approved_at=None,
                             order_delivered_carrier_date=None, order_delivered_customer_date=None)

    if not blocks:
        staged = run_staged_gate(settings, stage(area, rows), previous_rows={})
        assert staged.result.success, staged.result.failed_expectations
        return
    with pytest.raises(GateFailed) as blocked:
        run_staged_gate(settings, stage(area, rows), previous_rows={})
    failed = [(f.column, f.severity, f.sample_values) for f in blocked.value.result.failed_expectations]
    assert failed == [("order_purchase_timestamp", "critical", [purchase])]
