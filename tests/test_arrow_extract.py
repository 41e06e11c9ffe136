"""The Arrow extract stages what the PyMySQL extract stages, on a fixed MariaDB source.

Byte for byte, with one listed difference: Arrow's CSV writer quotes every non-NULL field of a
text column (ids, zips, states, free text, and DOUBLE, which is read as the server's text), where
the csv module quotes only fields that need it, and quotes a whole record holding a CR. COPY
(CSV, NULL '~N~') and the staged-CSV readers read a quoted and an unquoted field as the same value;
only the NULL marker's quoting carries meaning, and that is identical. Every record's text is
checked against exactly that rule (expected_arrow_record), header and part sizes too.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from olist_etl import arrow_extract
from olist_etl.arrow_extract import ArrowExtractError, SourceColumn, sql_int, sql_text_bound, sql_timestamp, staged_batch
from olist_etl.db import source_engine
from olist_etl.extract import extract_table
from olist_etl.source.schema import create_source_schema
from olist_etl.stage import NULL_MARKER, StagedCsvReader
from olist_etl.staging import open_staging
from olist_etl.tables import get_table
from tests.support.services import make_settings

# Values the dialect must keep apart or exact: NULL vs '' vs the marker, separators inside text,
# line breaks of every kind, non-ASCII, decimals at their scale, doubles in exponent form, -0,
# microseconds.
AWKWARD_TEXT = ["plain", "", None, NULL_MARKER, "a,b", 'say "hi"', "two\nlines", "cr\ronly", "crlf\r\nend", "São Paulo 👍", " padded ", "~N~x"]
# Doubles on both sides of where Arrow's text and MariaDB's part (1e-4 and 1e9): exponents, -0.
DOUBLES = [-22.93286903, 0.1, 1e20, 1e-05, 123456789.12345679, -0.0, None, 1e-15, 1e10, 999999999.9999999, 0.00012345678901234567, 0.30000000000000004]
PRICES = ["0.00", "9999999999.99", "-1.50", None, "12.30", "0.01", "100.00", "3.14", "7.00", "8.90", "1.23", "42.42"]

TEXT_KINDS = ("id", "zip", "state", "text", "float")  # the columns Arrow writes as text, hence quoted


@pytest.fixture
def fixed_source(mariadb_url, olist_home):
    settings = make_settings(olist_home, source_url=mariadb_url, warehouse_url=None, part_rows=5)
    engine = source_engine(settings)
    create_source_schema(engine, drop_existing=True)
    with engine.begin() as conn:
        for i, (text, double, price) in enumerate(zip(AWKWARD_TEXT, DOUBLES, PRICES)):
            stamp = f"2018-0{1 + i % 9}-1{i % 10} 0{i % 10}:1{i % 6}:2{i % 10}.{i * 7919 % 1000000:06d}"
            conn.execute(sa.text(
                "insert into sellers (seller_id, seller_zip_code_prefix, seller_city, seller_state, updated_at)"
                " values (:id, :zip, :city, :state, :stamp)"
            ), {"id": f"{i * 0x1111:032x}", "zip": None if i % 4 == 2 else f"{i:05d}", "city": text, "state": "SP", "stamp": stamp})
            conn.execute(sa.text(
                "insert into geolocation (geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, updated_at)"
                " values (:zip, :lat, :lng, :city, :stamp)"
            ), {"zip": f"{i:05d}", "lat": double, "lng": -(double or 0.0), "city": text, "stamp": stamp})
            conn.execute(sa.text(
                "insert into order_items (order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value, updated_at)"
                " values (:o, :n, :p, :s, :due, :price, :freight, :stamp)"
            ), {"o": f"{i:032x}", "n": 1 + i % 3, "p": f"{i + 7:032x}", "s": f"{i:032x}", "due": None if i % 5 == 0 else f"2018-02-0{1 + i % 9} 10:00:0{i % 10}",
                "price": price, "freight": PRICES[-1 - i], "stamp": stamp})
            conn.execute(sa.text(
                "insert into order_reviews (review_id, order_id, review_score, review_comment_title, review_comment_message, review_creation_date, updated_at)"
                " values (:r, :o, :score, :title, :message, :created, :stamp)"
            ), {"r": f"{i + 3:032x}", "o": f"{i:032x}", "score": None if i == 3 else i % 5 + 1, "title": text, "message": AWKWARD_TEXT[-1 - i],
                "created": "2018-01-01 00:00:00" if i % 2 else None, "stamp": stamp})
        conn.execute(sa.text("analyze table sellers, geolocation, order_items, order_reviews"))
    yield settings
    engine.dispose()


def records(settings, extract) -> list[tuple[list, str, bool]]:
    """(values, raw text, is a header) of every record in the extract's parts, in order."""
    area = open_staging(settings.staging_url)
    out = []
    for part in extract.parts:
        with area.reader(part.key) as raw:
            reader = StagedCsvReader(io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline=""))
            out.extend((values, reader.raw, reader.line_num == 1) for values in reader)
    return out


def rows(settings, extract) -> list[list]:
    """The values of every data record, headers left out."""
    return [values for values, _raw, header in records(settings, extract) if not header]


def expected_arrow_record(table: str, columns: list[str], values: list, header: bool) -> str:
    """The listed difference, as a rule: the record as Arrow writes it, from the values read back."""
    if header:
        return ",".join(values) + "\n"
    source = get_table(table)
    fields = []
    for name, value in zip(columns, values):
        kind = "timestamp" if name == "updated_at" else source.column(name).kind
        if value is None:
            fields.append(NULL_MARKER)
        elif kind in TEXT_KINDS:
            fields.append('"' + value.replace('"', '""') + '"')
        else:
            fields.append(value)
    return ",".join(fields) + "\n"


def both_extracts(settings, table: str, since: str | None = None):
    python = extract_table(dataclasses.replace(settings, extract_reader="python"), "run-python", table, since)
    arrow = extract_table(dataclasses.replace(settings, extract_reader="arrow"), "run-arrow", table, since)
    return python, arrow


def assert_only_listed_differences(settings, table: str, python, arrow) -> None:
    assert arrow.columns == python.columns
    assert [p.rows for p in arrow.parts] == [p.rows for p in python.parts]
    assert (arrow.rows, arrow.high_watermark, arrow.method) == (python.rows, python.high_watermark, python.method)
    old, new = records(settings, python), records(settings, arrow)
    assert [(values, header) for values, _, header in new] == [(values, header) for values, _, header in old]  # same order
    for values, new_raw, header in new:
        assert new_raw == expected_arrow_record(table, python.columns, values, header), values


@pytest.mark.integration
@pytest.mark.parametrize("table", ["sellers", "geolocation", "order_items", "order_reviews"])
def test_full_extract_matches_the_python_extract_but_for_listed_quoting(fixed_source, table):
    python, arrow = both_extracts(fixed_source, table)

    assert python.rows == len(AWKWARD_TEXT)
    assert_only_listed_differences(fixed_source, table, python, arrow)


@pytest.mark.integration
def test_the_difference_rule_fails_on_a_changed_record(fixed_source):
    # The check above can fail: the Python extract's own text (unquoted ids) breaks the rule.
    python, _ = both_extracts(fixed_source, "sellers")
    (header, header_raw, _), (values, raw, _) = records(fixed_source, python)[:2]
    assert header_raw == expected_arrow_record("sellers", python.columns, header, header=True)  # headers agree
    assert raw != expected_arrow_record("sellers", python.columns, values, header=False)


@pytest.mark.integration
def test_values_survive_exactly(fixed_source):
    _, arrow = both_extracts(fixed_source, "geolocation")
    staged = rows(fixed_source, arrow)
    cities = [r[arrow.columns.index("geolocation_city")] for r in staged]
    lats = [r[arrow.columns.index("geolocation_lat")] for r in staged]
    assert cities == AWKWARD_TEXT  # NULL, '' and the marker kept apart; line breaks intact
    assert lats[2:9] == ["1e20", "0.00001", "123456789.12345679", "0", None, "0.000000000000001", "10000000000"]  # the server's text
    _, items = both_extracts(fixed_source, "order_items")
    prices = [values[items.columns.index("price")] for values in rows(fixed_source, items)]
    assert prices == PRICES  # DECIMAL at its declared scale: 0.00, 7.00, never 7 or 7.0000000000
    stamps = [values[-1] for values in rows(fixed_source, items)]
    assert all(len(stamp) == 26 for stamp in stamps) and stamps[1].endswith(f".{7919:06d}")


@pytest.mark.integration
def test_incremental_window_matches_the_python_extract(fixed_source):
    since = "2018-03-01 00:00:00.000000"
    python, arrow = both_extracts(fixed_source, "order_items", since=since)

    assert 0 < python.rows < len(AWKWARD_TEXT)
    assert all(values[-1] > since for values in rows(fixed_source, arrow))
    assert_only_listed_differences(fixed_source, "order_items", python, arrow)


@pytest.mark.integration
def test_a_source_without_updated_at_stages_the_read_time_as_the_python_extract_does(fixed_source):
    engine = source_engine(fixed_source)
    with engine.begin() as conn:
        conn.execute(sa.text("alter table sellers drop column updated_at"))
    engine.dispose()
    python, arrow = both_extracts(fixed_source, "sellers")

    old, new = records(fixed_source, python), records(fixed_source, arrow)
    assert [values[:-1] for values, _, _ in new] == [values[:-1] for values, _, _ in old]
    for values, raw, header in new:
        assert raw == expected_arrow_record("sellers", arrow.columns, values, header)
        assert header or len(values[-1]) == 26 and values[-1].startswith(str(datetime.now(timezone.utc).year))  # unquoted, microseconds


@pytest.mark.integration
@pytest.mark.parametrize("table", ["geolocation", "sellers"])  # an INT key and a CHAR key
def test_key_ranges_cover_every_row_once_in_key_order(fixed_source, table, monkeypatch):
    _, whole = both_extracts(fixed_source, table)
    monkeypatch.setattr(arrow_extract, "RANGE_ROWS", 3)
    engine = source_engine(fixed_source)
    with engine.connect() as conn:
        key = get_table(table).primary_key[0]
        ranges = arrow_extract.key_ranges(conn, table, key, arrow_extract.source_columns(conn, table)[key])
    engine.dispose()
    split = extract_table(dataclasses.replace(fixed_source, extract_reader="arrow"), "run-split", table, None)

    assert len(ranges) > 1
    assert rows(fixed_source, split) == rows(fixed_source, whole)


# --- literals: only checked, typed values reach the SQL --------------------------------------------

def test_literals_render_from_typed_values():
    assert sql_timestamp(datetime(2018, 1, 2, 3, 4, 5, 60)) == "TIMESTAMP'2018-01-02 03:04:05.000060'"
    assert sql_timestamp("2018-01-02 03:04:05.5") == "TIMESTAMP'2018-01-02 03:04:05.500000'"
    assert sql_int(42) == "42"
    assert sql_text_bound("a") == "'a'"


@pytest.mark.parametrize("value", ["2018-01-01' OR '1'='1", "yesterday", ""])
def test_a_timestamp_literal_refuses_anything_but_a_timestamp(value):
    with pytest.raises(ValueError, match="not a timestamp"):
        sql_timestamp(value)


@pytest.mark.parametrize("check, value", [(sql_int, "1; drop table x"), (sql_int, True), (sql_text_bound, "a' or 'b"), (sql_text_bound, "")])
def test_other_literals_refuse_unchecked_values(check, value):
    with pytest.raises((TypeError, ValueError)):
        check(value)


def test_a_decimal_that_does_not_fit_its_declared_scale_is_an_error_naming_table_and_column():
    batch = pa.record_batch({"price": pa.array([Decimal("1.2300000000"), Decimal("1.2340000000")], pa.decimal128(38, 10))})
    types = {"price": SourceColumn("price", "decimal", 12, 2, None)}
    with pytest.raises(ArrowExtractError, match=r"order_items\.price"):
        staged_batch("order_items", batch, types)
    fits = staged_batch("order_items", batch.slice(0, 1), types)
    assert fits.column(0).type == pa.decimal128(12, 2)


def test_a_float_column_is_refused_rather_than_reformatted():
    batch = pa.record_batch({"geolocation_lat": pa.array([1.5])})
    with pytest.raises(ArrowExtractError, match=r"geolocation\.geolocation_lat"):
        staged_batch("geolocation", batch, {"geolocation_lat": SourceColumn("geolocation_lat", "double", None, None, None)})


@pytest.mark.parametrize(
    "url, reader, reads",
    [
        ("mysql://etl:pw@db:3306/olist", "arrow", True),
        ("mysql+pymysql://etl@db/olist", "arrow", True),
        ("mysql://etl:pw@db:3306/olist", "python", False),  # OLIST_EXTRACT_READER=python
        ("mysql://etl:pw@db/olist?ssl_ca=/ca.pem", "arrow", False),  # options connectorx would drop
        ("sqlite:///source.sqlite", "arrow", False),
    ],
)
def test_which_sources_the_arrow_extract_reads(tmp_path, url, reader, reads):
    settings = dataclasses.replace(make_settings(tmp_path, source_url=url, warehouse_url=None), extract_reader=reader)
    assert arrow_extract.reads_source(settings) is reads


def test_the_connectorx_url_keeps_an_escaped_password(tmp_path):
    settings = make_settings(tmp_path, source_url="mysql+pymysql://etl:p%40ss%2Fw@db:3307/olist", warehouse_url=None)
    assert arrow_extract.connectorx_url(settings) == "mysql://etl:p%40ss%2Fw@db:3307/olist"
