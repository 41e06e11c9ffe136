"""Time zones: updated_at, the watermarks and the run's time compare in UTC whatever the time zone
of the source's writers or of the server's default session.

The pipeline's source URL here carries an init_command that starts every session in the writers'
zone, as a server whose default time zone is theirs would: the pipeline must switch its own
sessions to UTC. Writers are plain connections whose session time_zone is '+03:00' or '-03:00'.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.db import extract_engine, source_engine
from olist_etl.source import create_source_schema
from olist_etl.tables import TABLE_NAMES, quote_mysql_ident
from olist_etl.extract import extract_table, updated_at_is_wall_clock
from tests.support.services import make_settings

pytestmark = pytest.mark.integration

ZONES = {"+03:00": timedelta(hours=3), "-03:00": timedelta(hours=-3)}
NEW_ORDER = "a0" * 16
NEW_CUSTOMER = "c0" * 16
NEW_UNIQUE = "d0" * 16
# Rows extracted by the writers' changes below: one new customer, order, item and payment, one
# order canceled and one product reweighed.
CHANGED = {"customers": 1, "orders": 2, "order_items": 1, "order_payments": 1, "products": 1}


def zoned_url(url: str, zone: str) -> str:
    """The URL with every session starting in `zone` (pymysql's init_command)."""
    parsed = sa.engine.make_url(url).update_query_dict({"init_command": f"SET time_zone = '{zone}'"})
    return parsed.render_as_string(hide_password=False)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def sync(mode: str) -> tuple[int, dict]:
    code, out, err = cli("sync", "--mode", mode, "--json")
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"exit {code}, stdout {out!r}, stderr tail {err[-3000:]}"
    return code, json.loads(lines[0])


@pytest.fixture
def pipeline(request, monkeypatch, olist_home, mariadb_url, postgres_url, prefect_api):
    """A seeded source whose sessions start in the writers' zone, fully synced; yields
    (zone, settings, UTC source engine, writers' engine, warehouse engine)."""
    zone = request.param
    source_url = zoned_url(mariadb_url, zone)
    env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": source_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": (olist_home / "staging").as_uri(),
        "OLIST_LOOKBACK_MINUTES": "0",  # so an incremental extract holds exactly the new changes
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OLIST_MAX_REJECTED_ROWS", raising=False)
    settings = make_settings(olist_home, source_url=source_url, warehouse_url=postgres_url)
    code, _, err = cli("seed-source", "--scale", "0.01", "--seed", "3")
    assert code == 0, err[-3000:]
    code, full = sync("full")
    assert code == 0 and full["status"] == "promoted", full
    source, writers, warehouse = source_engine(settings), sa.create_engine(source_url), sa.create_engine(postgres_url)
    yield zone, settings, source, writers, warehouse
    for engine in (source, writers, warehouse):
        engine.dispose()


def source_max_updated_at(source: sa.Engine) -> dict[str, datetime]:
    with source.connect() as conn:
        return {t: conn.execute(sa.text(f"select max(updated_at) from {quote_mysql_ident(t)}")).scalar_one() for t in TABLE_NAMES}


def stored_watermarks(warehouse: sa.Engine) -> dict[str, datetime]:
    with warehouse.connect() as conn:
        return dict(conn.execute(sa.text("select table_name, high_watermark from etl_control.watermarks")).all())


def write_changes(writers: sa.Engine) -> dict[str, str]:
    """Insert and update rows as the writers do, now, in their session's zone; the keys touched."""
    with writers.begin() as conn:
        zip_code, city, state = conn.execute(sa.text(
            "select customer_zip_code_prefix, customer_city, customer_state from customers order by customer_id limit 1"
        )).one()
        product, seller = conn.execute(sa.text("select product_id, seller_id from order_items order by order_id, order_item_id limit 1")).one()
        canceled = conn.execute(sa.text(
            "select order_id from orders where order_status in ('created', 'approved', 'processing', 'invoiced') order by order_id limit 1"
        )).scalar_one()
        reweighed = conn.execute(sa.text("select product_id from products where product_weight_g is not null order by product_id limit 1")).scalar_one()
        conn.execute(sa.text(
            "insert into customers (customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state)"
            " values (:c, :u, :z, :city, :s)"
        ), {"c": NEW_CUSTOMER, "u": NEW_UNIQUE, "z": zip_code, "city": city, "s": state})
        # Business timestamps are the business's wall clock, copied verbatim; these lie in the past.
        conn.execute(sa.text(
            "insert into orders (order_id, customer_id, order_status, order_purchase_timestamp, order_estimated_delivery_date)"
            " values (:o, :c, 'created', '2018-08-30 10:00:00', '2018-09-20 00:00:00')"
        ), {"o": NEW_ORDER, "c": NEW_CUSTOMER})
        conn.execute(sa.text(
            "insert into order_items (order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value)"
            " values (:o, 1, :p, :s, '2018-09-03 10:00:00', 100.00, 15.50)"
        ), {"o": NEW_ORDER, "p": product, "s": seller})
        conn.execute(sa.text(
            "insert into order_payments (order_id, payment_sequential, payment_type, payment_installments, payment_value)"
            " values (:o, 1, 'credit_card', 1, 115.50)"
        ), {"o": NEW_ORDER})
        conn.execute(sa.text("update orders set order_status = 'canceled' where order_id = :o"), {"o": canceled})
        conn.execute(sa.text("update products set product_weight_g = product_weight_g + 7 where product_id = :p"), {"p": reweighed})
    return {"canceled": canceled, "reweighed": reweighed}


def rows(engine: sa.Engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def session_zone(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("select @@session.time_zone")).scalar_one()


@pytest.mark.parametrize("pipeline", list(ZONES), indirect=True)
def test_changes_by_writers_in_another_zone_are_synced_with_utc_watermarks(pipeline):
    zone, settings, source, writers, warehouse = pipeline
    offset = ZONES[zone]

    # Assert (seed): the generator's updated_at is the order's last status time, written and read
    # back in UTC; the writers' session shows every one shifted by its offset.
    last_event = (
        "greatest(order_purchase_timestamp, coalesce(order_approved_at, order_purchase_timestamp),"
        " coalesce(order_delivered_carrier_date, order_purchase_timestamp),"
        " coalesce(order_delivered_customer_date, order_purchase_timestamp))"
    )
    mismatched = f"select count(*), sum(updated_at <> {last_event}) from orders"
    seeded, off_in_utc = rows(source, mismatched)[0]
    assert seeded > 0 and off_in_utc == 0
    assert rows(writers, mismatched)[0][1] == seeded

    # Arrange: a UTC change and an incremental sync bring the watermarks to now, so rows stamped
    # hours in the past (DATETIME, -03:00) would fall below them and hours ahead (+03:00) would
    # be "later than the run".
    with source.begin() as conn:
        conn.execute(sa.text("update products set product_weight_g = product_weight_g + 1 order by product_id limit 1"))
        conn.execute(sa.text("update orders set order_estimated_delivery_date = order_estimated_delivery_date + interval 1 day"
                             " where order_estimated_delivery_date is not null order by order_id limit 1"))
    code, baseline = sync("incremental")
    assert code == 0 and baseline["status"] == "promoted", baseline
    before = stored_watermarks(warehouse)

    # Act: the writers change rows now, in their zone; then the next incremental sync.
    written_from = utc_now()
    keys = write_changes(writers)
    written_to = utc_now()
    code, incremental = sync("incremental")

    # Assert: promoted (not blocked), carrying exactly the writers' changes.
    assert code == 0 and incremental["status"] == "promoted", incremental
    assert {t: c["extracted"] for t, c in incremental["tables"].items()} == {t: CHANGED.get(t, 0) for t in TABLE_NAMES}

    # The source's updated_at of the new order is the write's instant in UTC (the writers' own
    # session shows it shifted by their offset).
    order_stamp = rows(source, "select updated_at from orders where order_id = :o", o=NEW_ORDER)[0][0]
    assert written_from - timedelta(seconds=2) <= order_stamp <= written_to + timedelta(seconds=2)
    assert rows(writers, "select updated_at from orders where order_id = :o", o=NEW_ORDER)[0][0] == order_stamp + offset

    # The warehouse holds the source's values (updated_at included) for every changed row.
    new_and_canceled = {"a": NEW_ORDER, "b": keys["canceled"]}
    order_columns = "order_id, customer_id, order_status, order_purchase_timestamp, order_estimated_delivery_date, updated_at"
    assert rows(warehouse, f"select {order_columns} from user_access_layer.fact_orders where order_id in (:a, :b) order by order_id",
                **new_and_canceled) == rows(source, f"select {order_columns} from orders where order_id in (:a, :b) order by order_id",
                                            **new_and_canceled)
    assert rows(warehouse, "select order_status from user_access_layer.fact_orders where order_id = :o", o=keys["canceled"]) == [("canceled",)]
    item_columns = "order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value, updated_at"
    assert rows(warehouse, f"select {item_columns} from user_access_layer.fact_order_items where order_id = :o", o=NEW_ORDER) == rows(
        source, f"select {item_columns} from order_items where order_id = :o", o=NEW_ORDER)
    payment_columns = "order_id, payment_sequential, payment_type, payment_installments, payment_value, updated_at"
    assert rows(warehouse, f"select {payment_columns} from user_access_layer.fact_payments where order_id = :o", o=NEW_ORDER) == rows(
        source, f"select {payment_columns} from order_payments where order_id = :o", o=NEW_ORDER)
    customer_columns = "customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, updated_at"
    assert rows(warehouse, f"select {customer_columns} from user_access_layer.customer_account where customer_id = :c",
                c=NEW_CUSTOMER) == rows(source, f"select {customer_columns} from customers where customer_id = :c", c=NEW_CUSTOMER)
    product_columns = "product_id, product_weight_g, updated_at"
    assert rows(warehouse, f"select {product_columns} from user_access_layer.dim_product where product_id = :p and is_current",
                p=keys["reweighed"]) == rows(source, f"select {product_columns} from products where product_id = :p", p=keys["reweighed"])

    # Every watermark is the source's MAX(updated_at) read in UTC; the changed tables' moved on.
    after = stored_watermarks(warehouse)
    assert after == source_max_updated_at(source)
    assert all(after[t] > before[t] for t in CHANGED), (before, after)
    assert after["orders"] >= order_stamp  # the cancel, later in the same transaction, may be newer


def test_pipeline_sessions_read_utc_and_a_zoned_session_misreads_updated_at(mariadb_url, olist_home):
    # Arrange: sessions that start in +03:00 (as on a server whose default zone is +03:00).
    url = zoned_url(mariadb_url, "+03:00")
    settings = make_settings(olist_home, source_url=url, warehouse_url=None)
    source, extract, zoned = source_engine(settings), extract_engine(settings), sa.create_engine(url)
    create_source_schema(source, drop_existing=True)
    written_from = utc_now()
    with zoned.begin() as conn:
        conn.execute(sa.text("insert into customers (customer_id, customer_unique_id) values (:c, :u)"), {"c": NEW_CUSTOMER, "u": NEW_UNIQUE})
    written_to = utc_now()

    # Act
    query = "select @@session.time_zone, updated_at from customers"
    utc_zone, utc_value = rows(source, query)[0]
    extract_zone, extract_text = rows(extract, query)[0]
    zoned_zone, zoned_value = rows(zoned, query)[0]

    # Assert: both pipeline engines read the instant in UTC, the extract as the server's text...
    assert (utc_zone, extract_zone) == ("+00:00", "+00:00")
    assert written_from - timedelta(seconds=2) <= utc_value <= written_to + timedelta(seconds=2)
    assert extract_text == utc_value.strftime("%Y-%m-%d %H:%M:%S.%f")
    # ...while a session left in +03:00 reads it three hours later: past the gate's run time plus
    # its 5-minute tolerance, so every such run would be blocked.
    assert zoned_zone == "+03:00"
    assert zoned_value == utc_value + timedelta(hours=3)
    assert zoned_value > utc_now() + timedelta(minutes=5)
    for engine in (source, extract, zoned):
        engine.dispose()


OLD_UPDATED_AT = "DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"


def make_updated_at_datetime(source: sa.Engine) -> None:
    """Turn the source into one created by an older version: updated_at DATETIME(6). In the UTC
    session, so the stored wall clock is the UTC instant each TIMESTAMP held."""
    with source.begin() as conn:
        for table in TABLE_NAMES:
            conn.execute(sa.text(f"alter table {quote_mysql_ident(table)} modify updated_at {OLD_UPDATED_AT}"))


@pytest.mark.parametrize("pipeline", ["+03:00"], indirect=True)
def test_a_datetime_updated_at_source_syncs_with_utc_writers_and_blocks_with_zoned_ones(pipeline, caplog):
    zone, settings, source, writers, warehouse = pipeline
    with source.connect() as conn:
        assert not any(updated_at_is_wall_clock(conn, "mysql", t) for t in TABLE_NAMES)
    make_updated_at_datetime(source)
    with source.connect() as conn:
        assert all(updated_at_is_wall_clock(conn, "mysql", t) for t in TABLE_NAMES)

    # Act: the extract of such a table says what the source must guarantee.
    with caplog.at_level(logging.WARNING, logger="olist_etl.extract"):
        extract_table(settings, "tz-probe", "orders", None)
    assert any("orders.updated_at is DATETIME" in r.getMessage() and "UTC" in r.getMessage() for r in caplog.records)

    # Act: a writer in UTC (the pipeline's own session) changes a row; incremental sync.
    with source.begin() as conn:
        conn.execute(sa.text("update products set product_weight_g = product_weight_g + 1 order by product_id limit 1"))
    code, utc_run = sync("incremental")

    # Assert: promoted, the watermark is the source's MAX(updated_at).
    assert code == 0 and utc_run["status"] == "promoted", utc_run
    assert utc_run["tables"]["products"]["extracted"] == 1
    assert stored_watermarks(warehouse) == source_max_updated_at(source)
    before = stored_watermarks(warehouse)

    # Act: a writer in +03:00 changes an order; DATETIME keeps its wall clock, 3 h ahead of UTC.
    with writers.begin() as conn:
        conn.execute(sa.text("update orders set order_status = 'canceled'"
                             " where order_status in ('created', 'approved', 'processing', 'invoiced') order by order_id limit 1"))
    code, zoned_run = sync("incremental")

    # Assert: what the guarantee prevents: gate 1 blocks the run on orders.updated_at, and the
    # watermarks stay where they were.
    assert code == 2 and zoned_run["status"] == "blocked", zoned_run
    failed = [f for g in zoned_run["gates"] for f in g["failed_expectations"] if f["severity"] == "critical"]
    assert [(f["table"], f["column"]) for f in failed] == [("orders", "updated_at")], failed
    assert stored_watermarks(warehouse) == before
