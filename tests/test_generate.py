"""The synthetic Olist generator: deterministic, Kaggle-shaped, consistent, loadable on both dialects."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from olist_etl.db import source_engine
from olist_etl.source import create_source_schema, seed_synthetic
from olist_etl.source.generate import CATEGORIES, MESSAGES, scaled, synthetic_tables
from olist_etl.tables import TABLE_NAMES
from tests.support.services import make_settings, mariadb_database
from tests.support.tables import source_engine_for, source_table_digest

pytestmark = pytest.mark.integration


def generated_digest(scale: float, seed: int) -> dict[str, str]:
    out = {}
    for table in synthetic_tables(scale, seed):
        digest = hashlib.md5()
        for chunk in table.chunks(size=997):  # an odd chunk size must not change the contents
            digest.update(repr(chunk).encode())
        out[table.name] = digest.hexdigest()
    return out


def seeded_engine(request, tmp_path, dialect: str, scale: float, seed: int) -> sa.Engine:
    engine = source_engine_for(dialect, request, tmp_path)
    create_source_schema(engine, drop_existing=True)
    seed_synthetic(engine, scale, seed)
    return engine


def scalar(engine: sa.Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def test_the_same_seed_gives_identical_tables_and_another_seed_does_not(request, tmp_path):
    # Arrange / Act: the same scale and seed into two databases, and another seed into a third
    first = seeded_engine(request, tmp_path / "a", "sqlite", 0.01, 7)
    second = seeded_engine(request, tmp_path / "b", "sqlite", 0.01, 7)
    other = seeded_engine(request, tmp_path / "c", "sqlite", 0.01, 8)

    # Assert
    digests = [{t: source_table_digest(e, t) for t in TABLE_NAMES} for e in (first, second, other)]
    assert digests[0] == digests[1]
    differing = {t for t in TABLE_NAMES if digests[0][t] != digests[2][t]}
    assert differing == set(TABLE_NAMES) - {"product_category_name_translation"}
    for engine in (first, second, other):
        engine.dispose()


def test_the_generated_contents_do_not_depend_on_chunking_or_runs():
    assert generated_digest(0.005, 3) == generated_digest(0.005, 3)
    assert generated_digest(0.005, 3) != generated_digest(0.005, 4)


def test_cardinalities_at_a_small_scale_are_proportional_to_kaggle():
    # Act
    rows = {t.name: t.rows for t in synthetic_tables(0.02, 3)}

    # Assert: exact where Olist's counts define the scale, ratios where they are drawn
    orders = round(99_441 * 0.02)
    assert rows["orders"] == rows["customers"] == orders
    assert rows["products"] == round(32_951 * 0.02)
    assert rows["sellers"] == round(3_095 * 0.02)
    assert rows["geolocation"] == round(1_000_163 * 0.02)
    assert rows["product_category_name_translation"] == 71
    assert 1.10 <= rows["order_items"] / orders <= 1.18  # 112,650 / 99,441 = 1.133
    assert 1.02 <= rows["order_payments"] / orders <= 1.07  # 103,886 / 99,441 = 1.045
    assert 0.97 <= rows["order_reviews"] / orders <= 1.02  # 99,224 / 99,441 = 0.998


def test_a_tiny_scale_keeps_one_row_per_table_and_all_categories():
    rows = {t.name: t.rows for t in synthetic_tables(1e-7, 1)}
    assert min(rows.values()) >= 1
    assert rows["product_category_name_translation"] == 71
    assert scaled(3_095, 1e-7) == 1


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf")])
def test_a_scale_that_is_not_a_positive_number_is_refused(scale):
    with pytest.raises(ValueError, match="scale must be a positive number"):
        synthetic_tables(scale, 1)


def test_the_categories_are_71_distinct_portuguese_names_with_english_ones():
    assert len(CATEGORIES) == 71
    assert len({c[0] for c in CATEGORIES}) == len({c[1] for c in CATEGORIES}) == 71


@contextmanager
def module_database_url(dialect: str, tmp_path: Path) -> Iterator[str]:
    """Like the mariadb_url fixture, for a module-scoped seed (that fixture is per test)."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.sqlite'}"
        return
    with mariadb_database() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def seeded(request, tmp_path_factory):
    """Scale 0.05 seeded once per dialect for the read-only checks below."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    with module_database_url(request.param, tmp_path) as url:
        engine = source_engine(make_settings(tmp_path, source_url=url, warehouse_url=None))
        create_source_schema(engine, drop_existing=True)
        report = seed_synthetic(engine, 0.05, 11)
        yield engine, report
        engine.dispose()


def test_the_seed_report_matches_the_tables(seeded):
    engine, report = seeded
    expected = {t.name: t.rows for t in synthetic_tables(0.05, 11)}
    actual = {t: scalar(engine, f"select count(*) from {t}") for t in TABLE_NAMES}
    assert report.rows == expected == actual
    assert "synthetic Olist (scale 0.05, seed 11)" in report.describe()


def test_payments_per_order_equal_items_price_plus_freight(seeded):
    engine, _ = seeded
    mismatches = scalar(engine, """
        select count(*) from (
            select i.order_id, i.total, p.total as paid
            from (select order_id, round(sum(price + freight_value) * 100) as total from order_items group by order_id) i
            left join (select order_id, round(sum(payment_value) * 100) as total from order_payments group by order_id) p
              on p.order_id = i.order_id
        ) t where paid is null or paid <> total
    """)
    unpaid_or_orphan = scalar(engine, "select count(*) from order_payments p where not exists (select 1 from order_items i where i.order_id = p.order_id)")
    assert (mismatches, unpaid_or_orphan) == (0, 0)


def test_timestamps_are_consistent_with_the_status(seeded):
    engine, _ = seeded
    out_of_order = scalar(engine, """
        select count(*) from orders where order_approved_at < order_purchase_timestamp
           or order_delivered_carrier_date < order_approved_at
           or order_delivered_customer_date < order_delivered_carrier_date
    """)
    delivered_but_not_delivered = scalar(engine, "select count(*) from orders where (order_delivered_customer_date is not null) <> (order_status = 'delivered')")
    carried_wrongly = scalar(engine, "select count(*) from orders where (order_delivered_carrier_date is not null) <> (order_status in ('shipped', 'delivered'))")
    approved_missing = scalar(engine, "select count(*) from orders where order_status in ('approved', 'shipped', 'delivered') and order_approved_at is null")
    out_of_range = scalar(engine, "select count(*) from orders where order_purchase_timestamp < '2016-09-01' or order_purchase_timestamp >= '2018-11-01'")
    assert (out_of_order, delivered_but_not_delivered, carried_wrongly, approved_missing, out_of_range) == (0, 0, 0, 0, 0)
    assert scalar(engine, "select avg(order_status = 'delivered') from orders") > 0.95


def test_keys_join_and_zip_prefixes_are_five_character_text(seeded):
    engine, _ = seeded
    orphans = scalar(engine, """
        select (select count(*) from orders o where not exists (select 1 from customers c where c.customer_id = o.customer_id))
             + (select count(*) from order_items i where not exists (select 1 from products p where p.product_id = i.product_id))
             + (select count(*) from order_items i where not exists (select 1 from sellers s where s.seller_id = i.seller_id))
             + (select count(*) from order_reviews r where not exists (select 1 from orders o where o.order_id = r.order_id))
             + (select count(*) from products p where p.product_category_name is not null and not exists
                  (select 1 from product_category_name_translation t where t.product_category_name = p.product_category_name))
    """)
    assert orphans == 0
    assert scalar(engine, "select count(*) from customers where length(customer_zip_code_prefix) <> 5") == 0
    assert scalar(engine, "select count(*) from customers where customer_zip_code_prefix like '0%'") > 0
    assert 0.38 <= scalar(engine, "select avg(customer_state = 'SP') from customers") <= 0.46
    repeated = scalar(engine, "select count(*) - count(distinct customer_unique_id) from customers")
    assert 0.02 <= repeated / scalar(engine, "select count(*) from customers") <= 0.05


def test_review_texts_round_trip_with_newlines_quotes_and_emoji(seeded):
    engine, _ = seeded
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("select distinct review_comment_message from order_reviews where review_comment_message is not null")).scalars())
        no_comment = conn.execute(sa.text("select avg(review_comment_message is null) from order_reviews")).scalar_one()
        shared = conn.execute(sa.text("select count(*) from (select review_id from order_reviews group by review_id having count(*) > 1) t")).scalar_one()
    written = {m for group in MESSAGES.values() for m in group}
    assert stored <= written
    assert {"Chegou tudo direitinho.\r\nObrigado!", 'Péssimo! Veio "diferente" do anunciado 😡'} <= stored
    assert 0.53 <= float(no_comment) <= 0.65
    assert shared > 0


def as_datetime(value) -> datetime | None:
    return value if value is None or isinstance(value, datetime) else datetime.fromisoformat(value)


def test_seeded_rows_carry_their_last_business_event_as_updated_at(seeded):
    # Arrange
    engine, _ = seeded
    with engine.connect() as conn:
        orders = conn.execute(sa.text(
            "select order_purchase_timestamp, order_approved_at, order_delivered_carrier_date,"
            " order_delivered_customer_date, updated_at from orders"
        )).all()

    # Act
    last_events = [max(as_datetime(v) for v in row[:4] if v is not None) for row in orders]
    stamps = [as_datetime(row[4]) for row in orders]
    watermark = max(stamps)

    # Assert: history, not the seeding moment, so a sync's lookback after a full sync is small
    assert stamps == last_events
    assert watermark < datetime(2020, 1, 1)
    within_lookback = sum(s > watermark - timedelta(minutes=10) for s in stamps)
    assert within_lookback < 0.01 * len(stamps)


def test_seeding_twice_is_refused(seeded):
    engine, _ = seeded
    with pytest.raises(ValueError, match="already hold rows"):
        seed_synthetic(engine, 0.001, 1)


@pytest.mark.slow
def test_scale_1_seeds_mariadb_with_kaggle_counts(request, tmp_path):
    # Arrange
    engine = source_engine_for("mysql", request, tmp_path)
    create_source_schema(engine, drop_existing=True)

    # Act
    report = seed_synthetic(engine, 1, 42)

    # Assert
    counts = {t: scalar(engine, f"select count(*) from {t}") for t in ("orders", "customers", "products", "sellers", "product_category_name_translation")}
    assert counts == {"orders": 99_441, "customers": 99_441, "products": 32_951, "sellers": 3_095, "product_category_name_translation": 71}
    assert scalar(engine, "select count(distinct product_category_name) from products") == 71
    assert report.rows["geolocation"] == scalar(engine, "select count(*) from geolocation") == 1_000_163
    engine.dispose()
