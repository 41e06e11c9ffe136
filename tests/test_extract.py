"""Extract: stream source rows into staged parts, full and incremental, on MariaDB and SQLite."""

from __future__ import annotations

import csv
import gzip
import io
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from olist_etl.db import source_engine
from olist_etl.source.schema import create_source_schema
from olist_etl.staging import open_staging
from tasks.extract import extract_since, extract_table
from tasks.stage import write_manifest, read_manifest
from tests.conftest import make_settings

ORDER_SQL = sa.text(
    "insert into orders (order_id, customer_id, order_status, order_purchase_timestamp) values (:o, :c, :s, '2018-03-01 10:00:00')"
)


@pytest.fixture(params=["mysql", "sqlite"])
def source_settings(request, olist_home):
    if request.param == "mysql":
        url = request.getfixturevalue("mariadb_url")
    else:
        url = f"sqlite:///{olist_home / 'source.sqlite'}"
    settings = make_settings(olist_home, source_url=url, warehouse_url=None, part_rows=4)
    engine = source_engine(settings)
    create_source_schema(engine, drop_existing=True)
    with engine.begin() as conn:
        for i in range(10):
            conn.execute(ORDER_SQL, {"o": f"{i:032x}", "c": f"{i + 100:032x}", "s": "delivered"})
    yield settings
    engine.dispose()


def staged_rows(settings, extract) -> list[list[str]]:
    area = open_staging(settings.staging_url)
    rows = []
    for part in extract.parts:
        with area.reader(part.key) as raw:
            reader = csv.reader(io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline=""))
            assert next(reader) == extract.columns
            rows.extend(reader)
    return rows


def test_full_extract_stages_every_row_in_parts(source_settings):
    extract = extract_table.fn(source_settings, "run-full", "orders", None)

    assert extract.rows == 10
    assert [p.rows for p in extract.parts] == [4, 4, 2]
    rows = staged_rows(source_settings, extract)
    assert sorted(r[0] for r in rows) == [f"{i:032x}" for i in range(10)]
    assert extract.columns[-1] == "updated_at"
    assert all(r[extract.columns.index("order_approved_at")] == "" for r in rows)  # NULL stays empty
    assert datetime.fromisoformat(extract.high_watermark) == max(datetime.fromisoformat(r[-1]) for r in rows)


def test_incremental_extract_takes_only_rows_changed_after_the_bound(source_settings):
    full = extract_table.fn(source_settings, "run-1", "orders", None)
    time.sleep(0.05)
    with source_engine(source_settings).begin() as conn:
        conn.execute(sa.text("update orders set order_status = 'shipped' where order_id = :o"), {"o": f"{3:032x}"})

    since = full.high_watermark
    changed = extract_table.fn(source_settings, "run-2", "orders", since)

    assert changed.rows == 1
    assert staged_rows(source_settings, changed)[0][:3] == [f"{3:032x}", f"{103:032x}", "shipped"]
    assert changed.high_watermark > full.high_watermark


def test_incremental_extract_with_nothing_new_stages_nothing(source_settings):
    full = extract_table.fn(source_settings, "run-1", "orders", None)
    again = extract_table.fn(source_settings, "run-2", "orders", full.high_watermark)
    assert again.rows == 0 and again.parts == []
    assert again.high_watermark == full.high_watermark


def test_empty_table_has_no_watermark(source_settings):
    extract = extract_table.fn(source_settings, "run-1", "sellers", None)
    assert extract.rows == 0 and extract.high_watermark is None


def test_lookback_moves_the_lower_bound_back():
    mark = datetime(2026, 1, 2, 3, 4, 5, 600000)
    assert extract_since("incremental", mark, timedelta(minutes=10)) == "2026-01-02 02:54:05.600000"
    assert extract_since("full", mark, timedelta(minutes=10)) is None
    assert extract_since("incremental", None, timedelta(minutes=10)) is None
    with pytest.raises(ValueError, match="mode"):
        extract_since("everything", mark, timedelta(0))


def test_manifest_lists_every_table_with_parts_and_counts(source_settings):
    extracts = [extract_table.fn(source_settings, "run-m", t, None) for t in ("orders", "sellers")]
    write_manifest.fn(source_settings, "run-m", "full", extracts)

    manifest = read_manifest(source_settings, "run-m")
    assert manifest["mode"] == "full"
    assert manifest["tables"]["orders"]["rows"] == 10
    assert [p["rows"] for p in manifest["tables"]["orders"]["parts"]] == [4, 4, 2]
    assert manifest["tables"]["sellers"] == {
        "columns": ["seller_id", "seller_zip_code_prefix", "seller_city", "seller_state", "updated_at"],
        "rows": 0, "parts": [], "since": None, "high_watermark": None,
    }
