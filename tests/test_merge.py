"""Promoting loaded runs into the star schema (real PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from olist_etl.staging import LocalStaging
from olist_etl.tables import TABLE_NAMES
from tasks.load import create_warehouse, load_table
from tasks.merge import PromoteError, promote, read_watermarks
from tests.conftest import make_settings
from tests.helpers import assert_tables_unchanged, table_checksums
from tests.warehouse_support import hexid, stage_run

T0 = datetime(2018, 3, 1, 10, 0, 0)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)

C1, C2 = hexid(1, "c"), hexid(2, "c")
P1, P2, P3 = hexid(1, "p"), hexid(2, "p"), hexid(3, "p")
S1 = hexid(1, "s")
O1, O2 = hexid(1, "o"), hexid(2, "o")
R1 = hexid(1, "r")

STAR_TABLES = (
    "dim_customer", "dim_product", "dim_seller", "dim_date", "dim_geolocation",
    "fact_orders", "fact_order_items", "fact_payments", "fact_reviews",
)


def order(order_id, status, purchase, updated_at, *, delivered=None, estimated=None, customer=C1):
    return (order_id, customer, status, purchase, purchase, None, delivered, estimated, updated_at)


def first_batch() -> dict[str, list[tuple]]:
    return {
        "customers": [
            (C1, hexid(1, "u"), "01310", "são paulo", "SP", T0),
            (C2, hexid(2, "u"), "20040", "rio de janeiro", "RJ", T0),
        ],
        "sellers": [(S1, "13023", "campinas", "SP", T0)],
        "products": [
            (P1, "beleza_saude", 40, 300, 2, 500, 20, 10, 15, T0),
            (P2, "sem_traducao", 10, 100, 1, 100, 5, 5, 5, T0),
            (P3, None, None, None, None, None, None, None, None, T0),
        ],
        "product_category_name_translation": [("beleza_saude", "health_beauty", T0)],
        "orders": [
            order(O1, "shipped", datetime(2018, 2, 27, 9, 30), T0, estimated=datetime(2018, 3, 10)),
            order(O2, "delivered", datetime(2018, 2, 28, 23, 59, 59), T0,
                  delivered=datetime(2018, 3, 5, 12), estimated=datetime(2018, 3, 4), customer=C2),
        ],
        "order_items": [
            (O1, 1, P1, S1, datetime(2018, 3, 1), Decimal("12.30"), Decimal("0.05"), T0),
            (O1, 2, P2, S1, datetime(2018, 3, 1), Decimal("199.99"), Decimal("15.10"), T0),
            (O2, 1, P3, S1, datetime(2018, 3, 2), Decimal("1234567890.01"), None, T0),
        ],
        "order_payments": [
            (O1, 1, "credit_card", 3, Decimal("227.44"), T0),
            (O2, 1, "boleto", 1, Decimal("1234567890.01"), T0),
        ],
        "order_reviews": [
            (R1, O2, 5, 'ótimo, "recomendo"', "chegou antes 👍\nobrigado", datetime(2018, 3, 6), datetime(2018, 3, 7, 8), T0),
        ],
        "geolocation": [
            (1, "01310", -23.5, -46.6, "sao paulo", "SP", T0),
            (2, "01310", -23.6, -46.7, "são paulo", "SP", T0),
            (3, "20040", -22.9, -43.2, "rio de janeiro", "RJ", T0),
        ],
    }


def load_run(settings, area, run_id: str, rows: dict) -> dict:
    manifest = stage_run(area, run_id, rows)
    for name in TABLE_NAMES:
        load_table.fn(settings, manifest, name)
    return manifest


def run(settings, area, run_id: str, rows: dict) -> dict[str, int]:
    return promote.fn(settings, load_run(settings, area, run_id, rows))


def fetch(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def snapshot(engine) -> dict:
    """Checksums of the star schema and of the watermarks' values (not their promoted_at)."""
    return {
        "star": table_checksums(engine, "user_access_layer"),
        "watermarks": fetch(engine, "select table_name, high_watermark, run_id from etl_control.watermarks order by 1"),
        "runs": fetch(engine, "select run_id from etl_control.runs order by 1"),
    }


def test_promote_builds_the_star_schema(warehouse):
    # Arrange
    settings, engine, area = warehouse

    # Act
    affected = run(settings, area, "r1", first_batch())

    # Assert: one row per key everywhere, rows-affected reported per target.
    assert {k: affected[k] for k in ("dim_customer", "dim_product", "fact_orders", "fact_order_items")} == {
        "dim_customer": 2, "dim_product": 3, "fact_orders": 2, "fact_order_items": 3,
    }
    assert affected["watermarks"] == len(first_batch())
    assert fetch(engine, "select order_id, order_status, purchase_date_key, estimated_delivery_date_key, delivered_date_key "
                         "from user_access_layer.fact_orders order by order_id") == [
        (O1, "shipped", 20180227, 20180310, None),
        (O2, "delivered", 20180228, 20180304, 20180305),
    ]
    # Money keeps its cents, also above the old DECIMAL(10,0) range.
    assert fetch(engine, "select order_id, order_item_id, price, freight_value, purchase_date_key "
                         "from user_access_layer.fact_order_items order by 1, 2") == [
        (O1, 1, Decimal("12.30"), Decimal("0.05"), 20180227),
        (O1, 2, Decimal("199.99"), Decimal("15.10"), 20180227),
        (O2, 1, Decimal("1234567890.01"), None, 20180228),
    ]
    assert fetch(engine, "select payment_value from user_access_layer.fact_payments order by order_id") == [
        (Decimal("227.44"),), (Decimal("1234567890.01"),),
    ]
    assert fetch(engine, "select product_id, product_category_name_english from user_access_layer.dim_product order by 1") == [
        (P1, "health_beauty"), (P2, "unknown"), (P3, "unknown"),
    ]
    assert fetch(engine, "select review_comment_title, review_comment_message from user_access_layer.fact_reviews") == [
        ('ótimo, "recomendo"', "chegou antes 👍\nobrigado"),
    ]
    # dim_date: every day from the earliest to the latest order date, with its attributes.
    days = fetch(engine, "select date_key, calendar_date, day_of_week, is_weekend from user_access_layer.dim_date order by 1")
    assert [d[1] for d in days] == [date(2018, 2, 27) + timedelta(days=i) for i in range(12)]
    assert days[0] == (20180227, date(2018, 2, 27), 2, False)  # a Tuesday
    assert (20180303, date(2018, 3, 3), 6, True) in days  # a Saturday
    # dim_geolocation: averages per zip at a fixed scale, the alphabetically first spelling.
    assert fetch(engine, "select geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, point_count "
                         "from user_access_layer.dim_geolocation order by 1") == [
        ("01310", Decimal("-23.550000"), Decimal("-46.650000"), "sao paulo", 2),
        ("20040", Decimal("-22.900000"), Decimal("-43.200000"), "rio de janeiro", 1),
    ]
    assert fetch(engine, "select run_id, mode, status from etl_control.runs") == [("r1", "incremental", "promoted")]


def test_promoting_the_same_batch_twice_changes_nothing(warehouse):
    # Arrange
    settings, engine, area = warehouse
    manifest = load_run(settings, area, "r1", first_batch())
    promote.fn(settings, manifest)
    before = snapshot(engine)

    # Act
    affected = promote.fn(settings, manifest)

    # Assert
    assert {k: v for k, v in affected.items() if k in STAR_TABLES} == dict.fromkeys(STAR_TABLES, 0)
    assert_tables_unchanged(before["star"], snapshot(engine)["star"])
    assert snapshot(engine) == before


def test_a_rerun_with_changed_data_is_not_a_no_op(warehouse):
    # Arrange: the failing twin of the test above: the same keys, one value really changed.
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    before = table_checksums(engine, "user_access_layer")
    batch = {"sellers": [(S1, "13024", "campinas", "SP", T1)]}

    # Act
    affected = run(settings, area, "r2", batch)

    # Assert
    assert affected["dim_seller"] == 1
    assert table_checksums(engine, "user_access_layer")["dim_seller"] != before["dim_seller"]


def test_status_change_updates_fact_orders_and_an_older_version_does_not_regress(warehouse):
    # Arrange
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    purchase = datetime(2018, 2, 27, 9, 30)

    # Act: the order is delivered (newer updated_at) ...
    delivered = run(settings, area, "r2", {"orders": [
        order(O1, "delivered", purchase, T2, delivered=datetime(2018, 3, 8), estimated=datetime(2018, 3, 10)),
    ]})
    # ... then a late run still carries the older 'shipped' version.
    stale = run(settings, area, "r3", {"orders": [order(O1, "shipped", purchase, T1, estimated=datetime(2018, 3, 10))]})

    # Assert
    assert delivered["fact_orders"] == 1 and stale["fact_orders"] == 0
    assert fetch(engine, "select order_status, delivered_date_key, updated_at from user_access_layer.fact_orders "
                         "where order_id = :o", o=O1) == [("delivered", 20180308, T2)]
    assert fetch(engine, "select count(*) from user_access_layer.fact_orders") == [(2,)]


def test_lookback_duplicates_in_one_delta_keep_the_newest_version(warehouse):
    # Arrange: the lookback window staged two versions of the same order in one run.
    settings, engine, area = warehouse
    batch = first_batch()
    purchase = datetime(2018, 2, 27, 9, 30)
    batch["orders"] = [
        order(O1, "shipped", purchase, T0),
        order(O1, "canceled", purchase, T1),
        order(O1, "invoiced", purchase, T0 - timedelta(minutes=5)),
    ]
    # Without O2's order its item, payment and review would be orphans, which the post-merge suite blocks.
    for table, position in (("order_items", 0), ("order_payments", 0), ("order_reviews", 1)):
        batch[table] = [row for row in batch[table] if row[position] != O2]

    # Act
    run(settings, area, "r1", batch)

    # Assert
    assert fetch(engine, "select order_status from user_access_layer.fact_orders") == [("canceled",)]


def test_translation_arriving_after_the_product_updates_dim_product(warehouse):
    # Arrange: P2's category had no translation in the first run.
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())

    # Act
    affected = run(settings, area, "r2", {"product_category_name_translation": [("sem_traducao", "no_translation", T1)]})

    # Assert
    assert affected["dim_product"] == 1
    assert fetch(engine, "select product_id, product_category_name_english from user_access_layer.dim_product order by 1") == [
        (P1, "health_beauty"), (P2, "no_translation"), (P3, "unknown"),
    ]


def test_item_arriving_after_its_order_gets_the_purchase_date_key(warehouse):
    # Arrange
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())

    # Act
    run(settings, area, "r2", {"order_items": [(O2, 2, P1, S1, None, Decimal("10.00"), Decimal("1.00"), T1)]})

    # Assert
    assert fetch(engine, "select purchase_date_key from user_access_layer.fact_order_items where order_id = :o "
                         "and order_item_id = 2", o=O2) == [(20180228,)]


def test_geolocation_partial_delta_recomputes_old_and_new_zip(warehouse):
    # Arrange
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())

    # Act: point 2 moves from zip 01310 to 20040; only that row is in the delta.
    run(settings, area, "r2", {"geolocation": [(2, "20040", -23.0, -43.4, "rio de janeiro", "RJ", T1)]})

    # Assert
    assert fetch(engine, "select geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, point_count "
                         "from user_access_layer.dim_geolocation order by 1") == [
        ("01310", Decimal("-23.500000"), Decimal("-46.600000"), 1),
        ("20040", Decimal("-22.950000"), Decimal("-43.300000"), 2),
    ]


def test_failing_merge_rolls_back_every_table_and_the_watermarks(warehouse):
    # Arrange: a promoted first run, then a run whose orders delta has a NULL key (fact_orders is
    # merged after every dimension, so the dimensions were already written when it fails).
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    before = snapshot(engine)
    batch = first_batch()
    batch["customers"] = [(C1, hexid(1, "u"), "99999", "new city", "SP", T2)]
    batch["orders"] = [order(None, "shipped", datetime(2018, 4, 1), T2)]
    manifest = load_run(settings, area, "r2", batch)

    # Act
    with pytest.raises(PromoteError, match="fact_orders"):
        promote.fn(settings, manifest)

    # Assert
    after = snapshot(engine)
    assert_tables_unchanged(before["star"], after["star"])
    assert after == before


def test_missing_target_table_rolls_back_everything(warehouse):
    # Arrange: the last merge's target is gone.
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    with engine.begin() as conn:
        conn.execute(sa.text("drop table user_access_layer.fact_reviews"))
    before = snapshot(engine)
    batch = first_batch()
    batch["orders"] = [order(O1, "delivered", datetime(2018, 2, 27, 9, 30), T2)]
    manifest = load_run(settings, area, "r2", batch)

    # Act
    with pytest.raises(PromoteError, match="fact_reviews"):
        promote.fn(settings, manifest)

    # Assert
    assert snapshot(engine) == before


def test_promote_refuses_a_run_that_is_not_loaded(warehouse):
    # Arrange: r2 is staged, but the delta tables still hold r1.
    settings, engine, area = warehouse
    load_run(settings, area, "r1", first_batch())
    manifest = stage_run(area, "r2", {"customers": first_batch()["customers"][:1]})

    # Act / Assert
    with pytest.raises(PromoteError, match="load the run before promoting"):
        promote.fn(settings, manifest)
    assert fetch(engine, "select count(*) from user_access_layer.dim_customer") == [(0,)]


def test_read_watermarks(postgres_url, olist_home, tmp_path):
    # Arrange
    settings = make_settings(
        olist_home, source_url="sqlite://", warehouse_url=postgres_url, staging_url=(tmp_path / "staging").as_uri()
    )
    area = LocalStaging(tmp_path / "staging")

    # Act / Assert: no schema yet -> every table None.
    assert read_watermarks.fn(settings) == dict.fromkeys(TABLE_NAMES, None)

    create_warehouse.fn(settings)
    run(settings, area, "r1", {"orders": [order(O1, "shipped", datetime(2018, 2, 27), T1)],
                               "customers": first_batch()["customers"]})
    watermarks = read_watermarks.fn(settings)
    assert watermarks["orders"] == T1 and watermarks["customers"] == T0
    assert all(watermarks[name] is None for name in TABLE_NAMES if name not in ("orders", "customers"))

    # A late run with an older watermark does not move it back.
    run(settings, area, "r0", {"orders": [order(O2, "shipped", datetime(2018, 2, 27), T0)]})
    assert read_watermarks.fn(settings)["orders"] == T1
