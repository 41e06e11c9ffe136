"""simulate_changes: counts move as reported, timestamps follow statuses, updated_at marks the changes."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from olist_etl.source import create_source_schema, seed_synthetic, simulate_changes
from olist_etl.tables import TABLE_NAMES
from tests.support.tables import source_engine_for, source_table_digest

pytestmark = pytest.mark.integration

COUNTED = {
    "orders": ("new_orders",),
    "customers": ("new_customers",),
    "order_items": ("new_order_items",),
    "order_payments": ("new_payments",),
    "order_reviews": ("new_reviews", "late_reviews"),
}


@pytest.fixture(params=["sqlite", "mysql"])
def seeded(request, tmp_path):
    engine = source_engine_for(request.param, request, tmp_path)
    create_source_schema(engine, drop_existing=True)
    seed_synthetic(engine, 0.02, 5)
    yield engine
    engine.dispose()


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one() for t in TABLE_NAMES}


def stamps(engine: sa.Engine, table: str, key: str) -> dict[str, datetime]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select {key}, updated_at from {table}")).all()
    return {k: v if isinstance(v, datetime) else datetime.fromisoformat(v) for k, v in rows}


def test_row_counts_move_exactly_as_reported(seeded):
    # Arrange
    before = counts(seeded)

    # Act
    report = simulate_changes(seeded, seed=11)

    # Assert
    after = counts(seeded)
    expected = {t: before[t] + sum(report.counts[k] for k in COUNTED.get(t, ())) for t in TABLE_NAMES}
    assert after == expected
    assert all(report.counts[k] > 0 for k in ("new_orders", "shipped", "delivered", "canceled", "late_reviews", "product_updates", "seller_updates"))
    assert len(report.new_order_ids) == report.counts["new_orders"]


def test_status_changes_fill_the_matching_timestamps(seeded):
    # Act
    report = simulate_changes(seeded, seed=11)

    # Assert
    query = sa.text(
        "select order_id, order_status, order_approved_at, order_delivered_carrier_date, order_delivered_customer_date"
        " from orders where order_id in :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with seeded.connect() as conn:
        rows = conn.execute(query, {"ids": report.status_changed_order_ids}).all()
    by_status: dict[str, list] = {}
    for row in rows:
        by_status.setdefault(row.order_status, []).append(row)
    assert {s: len(r) for s, r in by_status.items()} == {
        s: report.counts[s] for s in ("shipped", "delivered", "canceled") if report.counts[s]
    }
    for row in by_status["shipped"]:
        assert row.order_delivered_carrier_date is not None and row.order_delivered_customer_date is None
        assert row.order_approved_at is None or row.order_delivered_carrier_date >= row.order_approved_at
    for row in by_status["delivered"]:
        assert row.order_delivered_customer_date is not None
        assert row.order_delivered_customer_date >= row.order_delivered_carrier_date
    for row in by_status["canceled"]:
        assert row.order_delivered_customer_date is None


def test_updated_at_moves_for_changed_rows_only(seeded):
    # Arrange
    orders, products, sellers = stamps(seeded, "orders", "order_id"), stamps(seeded, "products", "product_id"), stamps(seeded, "sellers", "seller_id")
    time.sleep(0.01)  # SQLite's clock has milliseconds

    # Act
    report = simulate_changes(seeded, seed=11)

    # Assert
    for before, after, changed in (
        (orders, stamps(seeded, "orders", "order_id"), set(report.status_changed_order_ids)),
        (products, stamps(seeded, "products", "product_id"), set(report.updated_product_ids)),
        (sellers, stamps(seeded, "sellers", "seller_id"), set(report.updated_seller_ids)),
    ):
        assert changed and changed <= set(before)
        assert all(after[k] > before[k] for k in changed)
        assert {k: after[k] for k in before if k not in changed} == {k: before[k] for k in before if k not in changed}
    new_orders = stamps(seeded, "orders", "order_id").keys() - orders.keys()
    assert new_orders == set(report.new_order_ids)


def test_new_orders_are_paid_exactly_and_reference_existing_rows(seeded):
    report = simulate_changes(seeded, seed=11)
    with seeded.connect() as conn:
        unbalanced = conn.execute(sa.text("""
            select count(*) from (
                select i.order_id from order_items i
                group by i.order_id
                having round(sum(i.price + i.freight_value) * 100) <>
                       (select round(sum(p.payment_value) * 100) from order_payments p where p.order_id = i.order_id)
            ) t
        """)).scalar_one()
        orphans = conn.execute(sa.text("""
            select (select count(*) from order_items i where not exists (select 1 from products p where p.product_id = i.product_id))
                 + (select count(*) from order_items i where not exists (select 1 from sellers s where s.seller_id = i.seller_id))
                 + (select count(*) from orders o where not exists (select 1 from customers c where c.customer_id = o.customer_id))
        """)).scalar_one()
    assert report.counts["new_orders"] > 0
    assert (unbalanced, orphans) == (0, 0)


def test_the_same_seed_and_contents_give_the_same_changes_and_another_seed_does_not(request, tmp_path):
    # Arrange: three identical sources
    engines = []
    for name in ("a", "b", "c"):
        engine = source_engine_for("sqlite", request, tmp_path / name)
        create_source_schema(engine, drop_existing=True)
        seed_synthetic(engine, 0.01, 2)
        engines.append(engine)

    # Act
    reports = [simulate_changes(engines[0], seed=3), simulate_changes(engines[1], seed=3), simulate_changes(engines[2], seed=4)]

    # Assert
    digests = [{t: source_table_digest(e, t) for t in TABLE_NAMES} for e in engines]
    assert digests[0] == digests[1] and reports[0] == reports[1]
    assert digests[0]["orders"] != digests[2]["orders"]
    for engine in engines:
        engine.dispose()


def test_running_again_with_the_same_seed_makes_new_distinct_ids(seeded):
    first = simulate_changes(seeded, seed=11)
    second = simulate_changes(seeded, seed=11)
    assert second.counts["new_orders"] == first.counts["new_orders"]
    assert not set(first.new_order_ids) & set(second.new_order_ids)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_a_fraction_outside_0_1_is_refused(seeded, fraction):
    with pytest.raises(ValueError, match="fraction"):
        simulate_changes(seeded, seed=1, fraction=fraction)


def test_an_empty_source_is_refused(request, tmp_path):
    engine = source_engine_for("sqlite", request, tmp_path)
    create_source_schema(engine, drop_existing=True)
    with pytest.raises(ValueError, match="no orders"):
        simulate_changes(engine, seed=1)
