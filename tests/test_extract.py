"""Extract: stream source rows into staged parts, full, incremental and backfill, on MariaDB and SQLite."""

from __future__ import annotations

import gzip
import io
import time
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from olist_etl.db import source_engine
from olist_etl.source.schema import create_source_schema
from olist_etl.manifest import RunManifest, manifest_key
from olist_etl.staging import open_staging, read_json
from olist_etl.extract import (
    BACKFILL_TABLES,
    PurchaseWindow,
    extract_purchase_range,
    extract_since,
    extract_table,
    purchase_window,
)
from olist_etl.stage import StagedCsvReader, read_manifest, write_manifest
from tests.support.services import make_settings

ORDER_SQL = sa.text(
    "insert into orders (order_id, customer_id, order_status, order_purchase_timestamp) values (:o, :c, :s, '2018-03-01 10:00:00')"
)


@pytest.fixture(params=[pytest.param("mysql", marks=pytest.mark.integration), "sqlite"])
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
            reader = StagedCsvReader(io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline=""))
            assert next(reader) == extract.columns
            rows.extend(reader)
    return rows


def test_full_extract_stages_every_row_in_parts(source_settings):
    extract = extract_table(source_settings, "run-full", "orders", None)

    assert extract.rows == 10
    assert [p.rows for p in extract.parts] == [4, 4, 2]
    rows = staged_rows(source_settings, extract)
    assert sorted(r[0] for r in rows) == [f"{i:032x}" for i in range(10)]
    assert extract.columns[-1] == "updated_at"
    assert all(r[extract.columns.index("order_approved_at")] is None for r in rows)  # NULL stays NULL, not ''
    assert datetime.fromisoformat(extract.high_watermark) == max(datetime.fromisoformat(r[-1]) for r in rows)


def test_incremental_extract_takes_only_rows_changed_after_the_bound(source_settings):
    full = extract_table(source_settings, "run-1", "orders", None)
    time.sleep(0.05)
    with source_engine(source_settings).begin() as conn:
        conn.execute(sa.text("update orders set order_status = 'shipped' where order_id = :o"), {"o": f"{3:032x}"})

    since = full.high_watermark
    changed = extract_table(source_settings, "run-2", "orders", since)

    assert changed.rows == 1
    assert staged_rows(source_settings, changed)[0][:3] == [f"{3:032x}", f"{103:032x}", "shipped"]
    assert changed.high_watermark > full.high_watermark


def test_a_row_updated_after_the_high_watermark_is_still_staged_by_a_full_read(source_settings, monkeypatch):
    # The race: MAX(updated_at) is read, then a writer updates a row before the SELECT reaches it.
    # Simulated by a high watermark read an hour before the rows' timestamps. A full read must stage
    # the row anyway: its deletes are the stored keys missing from the delta, so a row left out
    # would be marked deleted while it is live in the source.
    import olist_etl.extract as extract_module

    early = "2000-01-01 00:00:00.000000"
    monkeypatch.setattr(extract_module, "format_watermark", lambda value: early if value is not None else None)

    full = extract_table(source_settings, "run-race", "orders", None)

    assert full.rows == 10 and full.high_watermark == early
    assert sorted(r[0] for r in staged_rows(source_settings, full)) == [f"{i:032x}" for i in range(10)]
    # An incremental window stays bounded above: rows past the high watermark wait for the next run.
    window = extract_table(source_settings, "run-window", "orders", "1999-01-01 00:00:00.000000")
    assert window.rows == 0


def test_incremental_extract_with_nothing_new_stages_nothing(source_settings):
    full = extract_table(source_settings, "run-1", "orders", None)
    again = extract_table(source_settings, "run-2", "orders", full.high_watermark)
    assert again.rows == 0 and again.parts == []
    assert again.high_watermark == full.high_watermark


def test_empty_table_has_no_watermark(source_settings):
    extract = extract_table(source_settings, "run-1", "sellers", None)
    assert extract.rows == 0 and extract.high_watermark is None


def test_lookback_moves_the_lower_bound_back():
    mark = datetime(2026, 1, 2, 3, 4, 5, 600000)
    assert extract_since("incremental", mark, timedelta(minutes=10)) == "2026-01-02 02:54:05.600000"
    assert extract_since("full", mark, timedelta(minutes=10)) is None
    assert extract_since("incremental", None, timedelta(minutes=10)) is None
    with pytest.raises(ValueError, match="mode"):
        extract_since("everything", mark, timedelta(0))
    with pytest.raises(ValueError, match="'backfill'"):
        extract_since("backfill", mark, timedelta(0))


def test_manifest_lists_every_table_with_parts_and_counts(source_settings):
    extracts = [extract_table(source_settings, "run-m", t, None) for t in ("orders", "sellers")]
    write_manifest(source_settings, "run-m", "full", extracts)

    # The document as staged (what a Redshift operator or a later run reads), and its typed form.
    manifest = read_json(open_staging(source_settings.staging_url), manifest_key("run-m"))
    assert read_manifest(source_settings, "run-m") == RunManifest.from_dict(manifest)
    assert read_manifest(source_settings, "run-m").tables["orders"].parts[0].rows == 4
    assert manifest["mode"] == "full"
    assert manifest["tables"]["orders"]["rows"] == 10
    assert [p["rows"] for p in manifest["tables"]["orders"]["parts"]] == [4, 4, 2]
    assert manifest["tables"]["sellers"] == {
        "columns": ["seller_id", "seller_zip_code_prefix", "seller_city", "seller_state", "updated_at"],
        "rows": 0, "parts": [], "since": None, "high_watermark": None, "method": "full", "fetched_by_key": 0, "deletes": None,
    }


# A backfill of 2017-06-01 to 2017-06-02: orders on both edges are in, their neighbours out.
BACKFILL = PurchaseWindow(date(2017, 6, 1), date(2017, 6, 2))
EDGE_ORDERS = {
    "before": "2017-05-31 23:59:59",
    "first": "2017-06-01 00:00:00",
    "last": "2017-06-02 23:59:59",
    "after": "2017-06-03 00:00:00",
    "unknown": None,
}
IN_RANGE = {"first", "last"}


def _key(name: str) -> str:
    return name.ljust(32, "0")


def _seed_edges(settings) -> None:
    """Each edge order with its customer, an item (own product and seller), a payment and a review;
    the product and seller of "first" are also sold by "after", and one product is never sold."""
    with source_engine(settings).begin() as conn:
        for name, purchased in EDGE_ORDERS.items():
            conn.execute(
                sa.text(
                    "insert into orders (order_id, customer_id, order_status, order_purchase_timestamp)"
                    " values (:o, :c, 'delivered', :t)"
                ),
                {"o": _key(name), "c": _key("c" + name), "t": purchased},
            )
            conn.execute(
                sa.text("insert into customers (customer_id, customer_unique_id) values (:c, :u)"),
                {"c": _key("c" + name), "u": _key("u" + name)},
            )
            conn.execute(
                sa.text(
                    "insert into order_items (order_id, order_item_id, product_id, seller_id, price, freight_value)"
                    " values (:o, 1, :p, :s, 10.00, 1.00)"
                ),
                {"o": _key(name), "p": _key("p" + name), "s": _key("s" + name)},
            )
            conn.execute(sa.text("insert into products (product_id) values (:p)"), {"p": _key("p" + name)})
            conn.execute(sa.text("insert into sellers (seller_id) values (:s)"), {"s": _key("s" + name)})
            conn.execute(
                sa.text("insert into order_payments (order_id, payment_sequential, payment_value) values (:o, 1, 11.00)"),
                {"o": _key(name)},
            )
            conn.execute(
                sa.text("insert into order_reviews (review_id, order_id, review_score) values (:r, :o, 5)"),
                {"r": _key("r" + name), "o": _key(name)},
            )
        conn.execute(
            sa.text(
                "insert into order_items (order_id, order_item_id, product_id, seller_id, price, freight_value)"
                " values (:o, 2, :p, :s, 10.00, 1.00)"
            ),
            {"o": _key("after"), "p": _key("pfirst"), "s": _key("sfirst")},
        )
        conn.execute(sa.text("insert into products (product_id) values (:p)"), {"p": _key("unsold")})


def test_backfill_stages_the_orders_purchased_in_the_inclusive_range_and_the_rows_tied_to_them(source_settings):
    _seed_edges(source_settings)

    staged = {}
    for table in BACKFILL_TABLES:
        extract = extract_purchase_range(source_settings, "run-b", table, BACKFILL)
        assert extract.high_watermark is None and extract.since is None  # never moves a watermark
        assert extract.rows == len(staged_rows(source_settings, extract))
        staged[table] = sorted(tuple(r[:2]) for r in staged_rows(source_settings, extract))

    names = sorted(IN_RANGE)
    assert staged["orders"] == [(_key(n), _key("c" + n)) for n in names]
    assert staged["customers"] == [(_key("c" + n), _key("u" + n)) for n in names]
    assert staged["order_items"] == [(_key(n), "1") for n in names]
    assert staged["order_payments"] == [(_key(n), "1") for n in names]
    assert staged["order_reviews"] == [(_key("r" + n), _key(n)) for n in names]
    # Each product and seller once, though "pfirst" is also sold by an order out of the range.
    assert [p for p, _ in staged["products"]] == sorted(_key("p" + n) for n in names)
    assert [s for s, _ in staged["sellers"]] == sorted(_key("s" + n) for n in names)


def test_backfill_refuses_a_table_it_cannot_slice_by_purchase_date(source_settings):
    with pytest.raises(ValueError, match="geolocation has no link to orders"):
        extract_purchase_range(source_settings, "run-b", "geolocation", BACKFILL)


def test_a_backfill_range_is_checked_with_messages_naming_the_parameter():
    assert purchase_window("backfill", "2018-01-01", date(2018, 1, 31)) == PurchaseWindow(date(2018, 1, 1), date(2018, 1, 31))
    assert purchase_window("backfill", date(2018, 1, 1), date(2018, 1, 1)).params() == {
        "purchased_from": "2018-01-01", "purchased_before": "2018-01-02",  # one whole day
    }
    assert purchase_window("incremental", None, None) is None
    with pytest.raises(ValueError, match="missing purchased_from and purchased_to"):
        purchase_window("backfill", None, None)
    with pytest.raises(ValueError, match="missing purchased_from$"):
        purchase_window("backfill", None, "2018-01-31")
    with pytest.raises(ValueError, match="purchased_from 2018-02-01 is after purchased_to 2018-01-31"):
        purchase_window("backfill", "2018-02-01", "2018-01-31")
    with pytest.raises(ValueError, match="purchased_to must be a date YYYY-MM-DD, got '31/01/2018'"):
        purchase_window("backfill", "2018-01-01", "31/01/2018")
    with pytest.raises(ValueError, match="purchased_to must be a date .* without a time"):
        purchase_window("backfill", "2018-01-01", datetime(2018, 1, 31, 12))
    with pytest.raises(ValueError, match="purchased_to apply to mode 'backfill' only, not to mode 'full'"):
        purchase_window("full", None, "2018-01-31")
    with pytest.raises(ValueError, match="mode must be one of"):
        purchase_window("everything", None, None)


def test_extracts_outside_a_flow_run_create_no_progress_artifact(source_settings, monkeypatch):
    import olist_etl.progress

    calls = []
    monkeypatch.setattr(olist_etl.progress, "create_progress_artifact", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(olist_etl.progress, "update_progress_artifact", lambda *a, **k: calls.append(a))

    assert extract_table(source_settings, "run-p", "orders", None).rows == 10
    assert calls == []
