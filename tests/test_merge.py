"""Promoting loaded runs into the star schema (real PostgreSQL): the SCD2 dimensions, the facts
keyed to the versions current at purchase, unknown members and their repair, idempotence."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from olist_etl.staging import LocalStaging
from olist_etl.tables import TABLE_NAMES
from olist_etl.load import create_warehouse, load_table
from olist_etl.merge import FAST_PATH, PromoteError, promote, read_watermarks
from olist_etl.gates.post_merge import GATE_NAME as POST_MERGE_GATE
from olist_etl.sqlfiles import REDSHIFT_ON_POSTGRESQL
from olist_etl.warehouse.keys import KEY_CHECKS, checks_to_run
from tests.support.services import make_settings
from tests.support.tables import assert_tables_unchanged, table_checksums
from tests.support.warehouse import hexid, stage_run
from tests.support.merge_batches import (
    C1,
    C2,
    C3,
    END,
    fetch,
    FIRST,
    first_batch,
    load_run,
    MERGE_STEP_NAMES,
    O1,
    O2,
    O3,
    O4,
    order,
    P1,
    P2,
    P3,
    run,
    S1,
    snapshot,
    T0,
    T1,
    T2,
    U1,
    U2,
    U3,
    UNKNOWN,
)

pytestmark = pytest.mark.integration

# Every promote test runs the PostgreSQL SQL and the Redshift SQL (temp-table MERGE sources, the
# LOCK, anti-joins, counts from the merge sources, COALESCE change tests) against PostgreSQL.
RENDERINGS = ("postgresql", "redshift-on-postgresql")


@pytest.fixture(params=RENDERINGS)
def warehouse(request, warehouse):
    settings, engine, area = warehouse
    return replace(settings, warehouse_sql=request.param), engine, area

def version_key(natural_key: str, valid_from: datetime = FIRST) -> str:
    """The surrogate key a dimension version must get: md5 of the natural key and valid_from."""
    return hashlib.md5(f"{natural_key}|{valid_from:%Y-%m-%d %H:%M:%S.%f}".encode()).hexdigest()


def versions(engine, dim: str, natural_key: str, value: str) -> list[tuple]:
    """(key, valid_from, valid_to, is_current) of a natural key's versions, oldest first."""
    key = {"dim_customer": "customer_key", "dim_product": "product_key", "dim_seller": "seller_key"}[dim]
    return fetch(engine, f"select {key}, valid_from, valid_to, is_current from user_access_layer.{dim} "
                         f"where {natural_key} = :v order by valid_from", v=value)


def test_promote_builds_the_star_schema(warehouse):
    # Arrange
    settings, engine, area = warehouse

    # Act
    affected = run(settings, area, "r1", first_batch())

    # Assert: one version per natural key plus the unknown member in every SCD2 dimension. Into
    # an empty warehouse, fact_orders' insert summed the item totals: the totals step updated none.
    assert {k: affected[k] for k in ("customer_account", "dim_customer", "dim_product", "dim_seller", "fact_orders",
                                     "fact_order_items", "fact_orders_totals")} == {
        "customer_account": 2, "dim_customer": 3, "dim_product": 4, "dim_seller": 2, "fact_orders": 2,
        "fact_order_items": 3, "fact_orders_totals": 0,
    }
    assert affected["watermarks"] == len(first_batch())
    assert fetch(engine, "select customer_key, customer_unique_id, customer_state, valid_from, valid_to, is_current "
                         "from user_access_layer.dim_customer order by customer_unique_id nulls first") == [
        (UNKNOWN, None, None, FIRST, END, True),
        (version_key(U1), U1, "SP", FIRST, END, True),
        (version_key(U2), U2, "RJ", FIRST, END, True),
    ]
    assert fetch(engine, "select customer_id, customer_unique_id from user_access_layer.customer_account order by 1") == [(C1, U1), (C2, U2)]
    assert fetch(engine, "select order_id, customer_key, order_status, purchase_date_key, approved_date_key, "
                         "delivered_carrier_date_key, delivered_customer_date_key, estimated_delivery_date_key, "
                         "is_delivered_late, days_to_deliver, item_count, items_value, freight_value, order_total "
                         "from user_access_layer.fact_orders order by order_id") == [
        (O1, version_key(U1), "shipped", 20180227, 20180227, None, None, 20180310, None, None,
         2, Decimal("212.29"), Decimal("15.15"), Decimal("227.44")),
        # Delivered on 5 March, estimated for the 4th: late, 5 calendar days after the purchase.
        (O2, version_key(U2), "delivered", 20180228, 20180228, None, 20180305, 20180304, True, 5,
         1, Decimal("1234567890.01"), Decimal("0.00"), Decimal("1234567890.01")),
    ]
    # Money keeps its cents, also above the old DECIMAL(10,0) range; items carry the keys of
    # the versions current at purchase.
    assert fetch(engine, "select order_id, order_item_id, price, freight_value, purchase_date_key, customer_key, "
                         "product_key, seller_key from user_access_layer.fact_order_items order by 1, 2") == [
        (O1, 1, Decimal("12.30"), Decimal("0.05"), 20180227, version_key(U1), version_key(P1), version_key(S1)),
        (O1, 2, Decimal("199.99"), Decimal("15.10"), 20180227, version_key(U1), version_key(P2), version_key(S1)),
        (O2, 1, Decimal("1234567890.01"), None, 20180228, version_key(U2), version_key(P3), version_key(S1)),
    ]
    assert fetch(engine, "select payment_value, purchase_date_key from user_access_layer.fact_payments order by order_id") == [
        (Decimal("227.44"), 20180227), (Decimal("1234567890.01"), 20180228),
    ]
    assert fetch(engine, "select product_id, product_category_name_english from user_access_layer.dim_product "
                         "order by product_id nulls first") == [
        (None, "unknown"), (P1, "health_beauty"), (P2, "unknown"), (P3, "unknown"),
    ]
    assert fetch(engine, "select review_comment_title, review_comment_message, review_creation_date_key "
                         "from user_access_layer.fact_reviews") == [
        ('ótimo, "recomendo"', "chegou antes 👍\nobrigado", 20180306),
    ]
    # dim_date: the fixed calendar, every day of it, with its attributes.
    days = fetch(engine, "select date_key, calendar_date, day_of_week, is_weekend from user_access_layer.dim_date order by 1")
    assert len(days) == 7670 and days[0][1] == date(2015, 1, 1) and days[-1][1] == date(2035, 12, 31)
    assert (20180227, date(2018, 2, 27), 2, False) in days  # a Tuesday
    assert (20180303, date(2018, 3, 3), 6, True) in days  # a Saturday
    # dim_geolocation: averages per zip at a fixed scale, the alphabetically first spelling.
    assert fetch(engine, "select geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, point_count "
                         "from user_access_layer.dim_geolocation order by 1") == [
        ("01310", Decimal("-23.550000"), Decimal("-46.650000"), "sao paulo", 2),
        ("20040", Decimal("-22.900000"), Decimal("-43.200000"), "rio de janeiro", 1),
    ]
    assert fetch(engine, "select run_id, mode, status from etl_control.runs") == [("r1", "incremental", "promoted")]
    # rows_promoted counts every merge (on Redshift from the merge source tables: its driver
    # reports no row count for MERGE).
    assert fetch(engine, "select rows_promoted from etl_control.runs") == [(sum(v for k, v in affected.items() if k not in ("watermarks", "runs")),)]
    assert affected["fact_reviews"] == 1 and affected["dim_date"] == 7670


def test_promoting_the_same_batch_twice_changes_nothing(warehouse):
    # Arrange
    settings, engine, area = warehouse
    manifest = load_run(settings, area, "r1", first_batch())
    promote(settings, manifest)
    before = snapshot(engine)

    # Act
    affected = promote(settings, manifest)

    # Assert
    assert {k: v for k, v in affected.items() if k in MERGE_STEP_NAMES} == dict.fromkeys(MERGE_STEP_NAMES, 0)
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

    # Assert: the stored version closed, a new one opened.
    assert affected["dim_seller"] == 2
    assert table_checksums(engine, "user_access_layer")["dim_seller"] != before["dim_seller"]


def test_status_change_updates_fact_orders_and_a_row_set_back_is_synced_too(warehouse):
    # Arrange
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    purchase = datetime(2018, 2, 27, 9, 30)

    # Act: the order is delivered (newer updated_at) ...
    delivered = run(settings, area, "r2", {"orders": [
        order(O1, "delivered", purchase, T2, delivered=datetime(2018, 3, 8), estimated=datetime(2018, 3, 10)),
    ]})
    # ... then the source row is restored from a backup: 'shipped' again, with its older updated_at.
    restored = run(settings, area, "r3", {"orders": [order(O1, "shipped", purchase, T1, estimated=datetime(2018, 3, 10))]})

    # Assert: the staged row is the source's current state, whatever its timestamp says.
    assert delivered["fact_orders"] == 1 and restored["fact_orders"] == 1
    assert fetch(engine, "select order_status, delivered_customer_date_key, is_delivered_late, days_to_deliver, updated_at "
                         "from user_access_layer.fact_orders where order_id = :o", o=O1) == [("shipped", None, None, None, T1)]
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

    # Assert: a correction in place, not a new version, so the items keep their product key.
    assert affected["dim_product"] == 1
    assert fetch(engine, "select product_id, product_category_name_english from user_access_layer.dim_product "
                         "where product_id is not null order by 1") == [
        (P1, "health_beauty"), (P2, "no_translation"), (P3, "unknown"),
    ]
    assert versions(engine, "dim_product", "product_id", P2) == [(version_key(P2), FIRST, END, True)]


def test_item_arriving_after_its_order_gets_its_keys_and_updates_the_order_totals(warehouse):
    # Arrange
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())

    # Act
    affected = run(settings, area, "r2", {"order_items": [(O2, 2, P1, S1, None, Decimal("10.00"), Decimal("1.00"), T1)]})

    # Assert
    assert affected["fact_orders"] == 0 and affected["fact_orders_totals"] == 1
    assert fetch(engine, "select purchase_date_key, customer_key, product_key from user_access_layer.fact_order_items "
                         "where order_id = :o and order_item_id = 2", o=O2) == [(20180228, version_key(U2), version_key(P1))]
    assert fetch(engine, "select item_count, items_value, freight_value, order_total from user_access_layer.fact_orders "
                         "where order_id = :o", o=O2) == [(2, Decimal("1234567900.01"), Decimal("1.00"), Decimal("1234567901.01"))]


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
    batch["customers"] = [(C1, U1, "99999", "new city", "SP", T2)]
    batch["orders"] = [order(None, "shipped", datetime(2018, 4, 1), T2)]
    manifest = load_run(settings, area, "r2", batch)

    # Act
    with pytest.raises(PromoteError, match="fact_orders"):
        promote(settings, manifest)

    # Assert
    after = snapshot(engine)
    assert_tables_unchanged(before["star"], after["star"])
    assert after == before


def test_missing_target_table_rolls_back_everything(warehouse):
    # Arrange: the last merge's target is gone (with the analytics view that reads it).
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    with engine.begin() as conn:
        conn.execute(sa.text("drop table user_access_layer.fact_reviews cascade"))
    before = snapshot(engine)
    batch = first_batch()
    batch["orders"] = [order(O1, "delivered", datetime(2018, 2, 27, 9, 30), T2)]
    manifest = load_run(settings, area, "r2", batch)

    # Act
    with pytest.raises(PromoteError, match="fact_reviews"):
        promote(settings, manifest)

    # Assert
    assert snapshot(engine) == before


def test_promote_refuses_a_run_that_is_not_loaded(warehouse):
    # Arrange: r2 is staged, but the delta tables still hold r1.
    settings, engine, area = warehouse
    load_run(settings, area, "r1", first_batch())
    manifest = stage_run(area, "r2", {"customers": first_batch()["customers"][:1]})

    # Act / Assert
    with pytest.raises(PromoteError, match="load the run before promoting"):
        promote(settings, manifest)
    assert fetch(engine, "select count(*) from user_access_layer.customer_account") == [(0,)]


def test_promote_refuses_a_delta_loaded_by_another_run_even_with_equal_counts(warehouse):
    # Arrange: r1 loaded; then r2's orders (the same number of rows, another status) land in
    # between, as another sync's load would between r1's gate and its promote.
    settings, engine, area = warehouse
    manifest = load_run(settings, area, "r1", first_batch())
    other = first_batch()
    other["orders"] = [order(o[0], "canceled", o[3], T1, customer=o[1]) for o in other["orders"]]
    load_table(settings, stage_run(area, "r2", other), "orders")
    before = snapshot(engine)

    # Act / Assert: refused by run id, naming the table and the run it holds; nothing promoted.
    with pytest.raises(PromoteError, match=r"staging_layer\.orders holds run 'r2''s rows, not run 'r1''s"):
        promote(settings, manifest)
    assert snapshot(engine) == before
    # The landing table and the delta table both name r2 (the landing load records its run too).
    assert fetch(engine, "select table_name, run_id from etl_control.loads where run_id = 'r2' order by 1") == [
        ("landing_orders", "r2"), ("orders", "r2"),
    ]


@pytest.mark.parametrize("table,key,staged", [
    ("fact_orders", "order_id", "orders"),
    ("fact_order_items", "order_id", "order_items"),
    ("dim_customer", "customer_key", "customers"),
])
def test_a_duplicate_key_blocks_the_promote_like_a_primary_key(warehouse, table, key, staged):
    # Arrange: a warehouse whose table lost its primary key (as on Redshift, where it is not
    # enforced) and holds one stored row twice; the next run stages that row's key.
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    with engine.begin() as conn:
        conn.execute(sa.text(f"alter table user_access_layer.{table} drop constraint {table}_pkey"))
        duplicated = conn.execute(sa.text(
            f"select {key} from user_access_layer.{table} where {key} <> :unknown order by {key} limit 1"), {"unknown": UNKNOWN}).scalar_one()
        conn.execute(sa.text(f"insert into user_access_layer.{table} select * from user_access_layer.{table} where {key} = :v and "
                             + ("order_item_id = 1" if table == "fact_order_items" else "true")), {"v": duplicated})
    batch = {staged: first_batch()[staged]}
    manifest = load_run(settings, area, "r2", batch)
    before = snapshot(engine)

    # Act / Assert: the key check names the table, the key and its value; nothing is promoted.
    with pytest.raises(PromoteError, match=rf"user_access_layer\.{table} holds 2 rows with {key} = '{duplicated}'"):
        promote(settings, manifest)
    assert snapshot(engine) == before


def test_key_checks_skip_only_what_an_enforced_unique_index_covers(warehouse):
    # Arrange: a promoted warehouse with every primary key in place.
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    current_only = [c.name for c in KEY_CHECKS if c.current_only]
    with engine.begin() as conn:
        # Act / Assert: the primary keys cover every check but one current version per natural key.
        assert [c.name for c in checks_to_run(conn, "postgresql")] == current_only
        assert checks_to_run(conn, REDSHIFT_ON_POSTGRESQL) == list(KEY_CHECKS)  # as Redshift: all run
        # A key held only by a deferred or a partial unique index is checked again.
        conn.execute(sa.text("alter table user_access_layer.fact_orders drop constraint fact_orders_pkey"))
        conn.execute(sa.text("alter table user_access_layer.fact_orders add constraint fact_orders_deferred "
                             "unique (order_id) deferrable initially deferred"))
        conn.execute(sa.text("alter table user_access_layer.fact_reviews drop constraint fact_reviews_pkey"))
        conn.execute(sa.text("create unique index fact_reviews_live on user_access_layer.fact_reviews (review_id, order_id) "
                             "where deleted_at is null"))
        # So is one held by a unique index on a nullable column (NULLs may repeat in it).
        conn.execute(sa.text("alter table user_access_layer.fact_payments drop constraint fact_payments_pkey"))
        conn.execute(sa.text("alter table user_access_layer.fact_payments alter column payment_sequential drop not null"))
        conn.execute(sa.text("create unique index fact_payments_nullable on user_access_layer.fact_payments (order_id, payment_sequential)"))
        names = [c.name for c in checks_to_run(conn, "postgresql")]
    assert names == [c.name for c in KEY_CHECKS if c.current_only or c.target in ("fact_orders", "fact_reviews", "fact_payments")]


def test_a_duplicate_outside_the_run_does_not_block_it(warehouse):
    # Arrange: a duplicated order the next run does not touch (the checks are scoped to the run).
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    with engine.begin() as conn:
        conn.execute(sa.text("alter table user_access_layer.fact_orders drop constraint fact_orders_pkey"))
        conn.execute(sa.text("insert into user_access_layer.fact_orders select * from user_access_layer.fact_orders where order_id = :o"), {"o": O2})

    # Act: r2 stages O1 only.
    affected = run(settings, area, "r2", {"orders": [order(O1, "delivered", datetime(2018, 2, 27, 9, 30), T1)]})

    # Assert
    assert affected["fact_orders"] == 1


def test_read_watermarks(postgres_url, olist_home, tmp_path):
    # Arrange
    settings = make_settings(
        olist_home, source_url="sqlite://", warehouse_url=postgres_url, staging_url=(tmp_path / "staging").as_uri()
    )
    area = LocalStaging(tmp_path / "staging")

    # Act / Assert: no schema yet -> every table None.
    assert read_watermarks(settings) == dict.fromkeys(TABLE_NAMES, None)

    create_warehouse(settings)
    run(settings, area, "r1", {"orders": [order(O1, "shipped", datetime(2018, 2, 27), T1)],
                               "customers": first_batch()["customers"]})
    watermarks = read_watermarks(settings)
    assert watermarks["orders"] == T1 and watermarks["customers"] == T0
    assert all(watermarks[name] is None for name in TABLE_NAMES if name not in ("orders", "customers"))

    # A late run with an older watermark does not move it back.
    run(settings, area, "r0", {"orders": [order(O2, "shipped", datetime(2018, 2, 27), T0)]})
    assert read_watermarks(settings)["orders"] == T1


def new_order(order_id: str, customer_id: str, purchase: datetime, updated_at: datetime, product=P1, seller=S1) -> dict:
    """An order with one item and one payment, as a batch."""
    return {
        "orders": [order(order_id, "approved", purchase, updated_at, customer=customer_id)],
        "order_items": [(order_id, 1, product, seller, None, Decimal("50.00"), Decimal("5.00"), updated_at)],
        "order_payments": [(order_id, 1, "voucher", 1, Decimal("55.00"), updated_at)],
    }


def merged(*batches: dict) -> dict:
    out: dict[str, list] = {}
    for batch in batches:
        for table, rows in batch.items():
            out.setdefault(table, []).extend(rows)
    return out


def customer_keys(engine) -> dict[str, tuple[str, str]]:
    """order_id -> (the order's customer key, its items' customer key)."""
    rows = fetch(engine, "select o.order_id, o.customer_key, max(i.customer_key) from user_access_layer.fact_orders o "
                         "left join user_access_layer.fact_order_items i on i.order_id = o.order_id group by 1, 2")
    return {order_id: (key, item_key) for order_id, key, item_key in rows}


def test_customer_move_opens_a_version_and_only_purchases_after_it_get_the_new_key(warehouse):
    # Arrange: O1 (27 Feb) and O3 (5 March) bought by C1 at its first address.
    settings, engine, area = warehouse
    run(settings, area, "r1", merged(first_batch(), new_order(O3, C1, datetime(2018, 3, 5, 12), T0)))
    moved_at = datetime(2018, 3, 3, 8)  # the source row's updated_at when the customer moved

    # Act: C1 moves (same customer row, new location); O4 is bought after the move.
    affected = run(settings, area, "r2", merged(
        {"customers": [(C1, U1, "30140", "belo horizonte", "MG", moved_at)]},
        new_order(O4, C1, datetime(2018, 3, 6, 9), T1),
    ))

    # Assert: the first version closed where the second starts.
    assert affected["dim_customer"] == 2
    assert versions(engine, "dim_customer", "customer_unique_id", U1) == [
        (version_key(U1), FIRST, moved_at, False),
        (version_key(U1, moved_at), moved_at, END, True),
    ]
    assert fetch(engine, "select customer_state from user_access_layer.dim_customer where customer_key = :k",
                 k=version_key(U1, moved_at)) == [("MG",)]
    keys = customer_keys(engine)
    old, new = version_key(U1), version_key(U1, moved_at)
    assert keys[O1] == (old, old)  # bought before the move: keeps its key
    assert keys[O3] == (new, new)  # bought after the move, promoted before it: re-keyed to the version current then
    assert keys[O4] == (new, new)
    assert keys[O2] == (version_key(U2), version_key(U2))


def test_seller_and_product_changes_open_versions_and_old_items_keep_their_keys(warehouse):
    # Arrange
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    changed_at = datetime(2018, 3, 2, 15)

    # Act: S1 moves, P1 gets heavier; O3 is bought afterwards from the same seller and product.
    run(settings, area, "r2", merged(
        {"sellers": [(S1, "20040", "rio de janeiro", "RJ", changed_at)],
         "products": [(P1, "beleza_saude", 40, 300, 2, 750, 20, 10, 15, changed_at)]},
        new_order(O3, C2, datetime(2018, 3, 4), T1),
    ))

    # Assert
    assert versions(engine, "dim_seller", "seller_id", S1) == [
        (version_key(S1), FIRST, changed_at, False), (version_key(S1, changed_at), changed_at, END, True),
    ]
    assert versions(engine, "dim_product", "product_id", P1) == [
        (version_key(P1), FIRST, changed_at, False), (version_key(P1, changed_at), changed_at, END, True),
    ]
    assert fetch(engine, "select product_weight_g, product_category_name_english from user_access_layer.dim_product "
                         "where product_id = :p order by valid_from", p=P1) == [(500, "health_beauty"), (750, "health_beauty")]
    items = fetch(engine, "select order_id, order_item_id, product_key, seller_key from user_access_layer.fact_order_items order by 1, 2")
    assert items == [
        (O1, 1, version_key(P1), version_key(S1)),
        (O1, 2, version_key(P2), version_key(S1)),
        (O2, 1, version_key(P3), version_key(S1)),
        (O3, 1, version_key(P1, changed_at), version_key(S1, changed_at)),
    ]


def test_one_batch_with_several_rows_of_a_person_builds_the_history(warehouse):
    # Arrange: a full sync carries three customer rows of one person (Olist: one per order);
    # the second and third have the same address, and two rows of another person tie on updated_at.
    settings, engine, area = warehouse
    c5, c6, c7, c8 = (hexid(n, "c") for n in (5, 6, 7, 8))
    jan, feb, mar = datetime(2018, 1, 10), datetime(2018, 2, 10), datetime(2018, 3, 10)
    batch = merged(
        {"customers": [
            (C1, U1, "01310", "são paulo", "SP", jan),
            (c5, U1, "30140", "belo horizonte", "MG", feb),
            (c6, U1, "30140", "belo horizonte", "MG", mar),
            (c7, U3, "20040", "rio de janeiro", "RJ", jan),
            (c8, U3, "69005", "manaus", "AM", jan),
        ], "sellers": first_batch()["sellers"], "products": first_batch()["products"]},
        new_order(O1, C1, jan, jan), new_order(O2, c5, feb, feb), new_order(O3, c6, mar, mar), new_order(O4, c7, jan, jan),
    )

    # Act
    run(settings, area, "r1", batch)

    # Assert: the address changed once, in February; the March row only confirms it.
    assert versions(engine, "dim_customer", "customer_unique_id", U1) == [
        (version_key(U1), FIRST, feb, False), (version_key(U1, feb), feb, END, True),
    ]
    assert fetch(engine, "select updated_at from user_access_layer.dim_customer where customer_key = :k",
                 k=version_key(U1, feb)) == [(mar,)]
    # A tie on updated_at opens one version: the row with the greatest customer_id (c8) wins.
    assert fetch(engine, "select customer_state from user_access_layer.dim_customer where customer_unique_id = :u", u=U3) == [("AM",)]
    keys = customer_keys(engine)
    assert keys[O1][0] == version_key(U1) and keys[O2][0] == keys[O3][0] == version_key(U1, feb)


def test_late_customer_gets_the_unknown_member_and_is_repaired_when_it_arrives(warehouse):
    # Arrange: O3's customer row is committed after the order, so it is not in the order's run.
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())

    # Act 1
    run(settings, area, "r2", new_order(O3, C3, datetime(2018, 3, 4), T1))

    # Assert 1: promoted on the unknown member, reported as a warning.
    assert customer_keys(engine)[O3] == (UNKNOWN, UNKNOWN)
    gate = json.loads((settings.home / "gate_results" / "r2" / f"{POST_MERGE_GATE}.json").read_text())
    assert gate["success"] is True
    assert [(f["table"], f["column"], f["severity"], f["unexpected_count"]) for f in gate["failed_expectations"]] == [
        ("fact_orders", "customer_id", "warning", 1)
    ]

    # Act 2: the customer row arrives.
    affected = run(settings, area, "r3", {"customers": [(C3, U3, "69005", "manaus", "AM", T2)]})

    # Assert 2: the order and its item are re-keyed; nothing else moved.
    assert customer_keys(engine)[O3] == (version_key(U3), version_key(U3))
    assert (affected["fact_orders"], affected["fact_order_items"]) == (1, 1)
    gate = json.loads((settings.home / "gate_results" / "r3" / f"{POST_MERGE_GATE}.json").read_text())
    assert gate["failed_expectations"] == []


def test_rerunning_a_change_changes_nothing_and_rows_set_back_are_synced(warehouse):
    # Arrange
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    moved_at = datetime(2018, 3, 3, 8)
    move = load_run(settings, area, "r2", merged(
        {"customers": [(C1, U1, "30140", "belo horizonte", "MG", moved_at)],
         "sellers": [(S1, "20040", "rio de janeiro", "RJ", moved_at)]},
        new_order(O3, C1, datetime(2018, 3, 6), T1),
    ))
    promote(settings, move)
    before = snapshot(engine)["star"]

    # Act: the same batch again (a re-run) changes nothing ...
    again = promote(settings, move)
    unchanged = snapshot(engine)["star"]
    # ... then the source rows are set back to what they were before the move, with their old
    # updated_at (a restore from backup, a clock set back).
    set_back = run(settings, area, "r3", {"customers": [(C1, U1, "01310", "são paulo", "SP", T0)],
                                          "sellers": [(S1, "13023", "campinas", "SP", T0)]})

    # Assert
    assert {k: again[k] for k in MERGE_STEP_NAMES} == dict.fromkeys(MERGE_STEP_NAMES, 0)
    assert_tables_unchanged(before, unchanged)
    # The mirror of the customer row and the seller follow the source; the seller's move is kept
    # as history and a version after it (never before the version it follows) holds campinas again.
    assert fetch(engine, "select customer_city from user_access_layer.customer_account where customer_id = :c", c=C1) == [("são paulo",)]
    seller = fetch(engine, "select seller_city, valid_from, valid_to, is_current from user_access_layer.dim_seller "
                           "where seller_id = :s order by valid_from", s=S1)
    assert [(city, current) for city, _, _, current in seller] == [
        ("campinas", False), ("rio de janeiro", False), ("campinas", True)]
    assert seller[2][1] == moved_at + timedelta(microseconds=1) == seller[1][2]
    assert set_back["dim_seller"] == 2
    # A person's address history is ordered by their rows' updated_at: an older row opens no version.
    assert set_back["dim_customer"] == 0


def test_a_rebuilt_warehouse_is_byte_identical(warehouse):
    # Arrange: two runs, the second with a move; the keys are md5s, not sequence values.
    settings, engine, area = warehouse
    second = merged({"customers": [(C1, U1, "30140", "belo horizonte", "MG", T1)]}, new_order(O3, C1, datetime(2018, 3, 6), T1))
    run(settings, area, "r1", first_batch())
    run(settings, area, "r2", second)
    built = snapshot(engine)["star"]

    # Act: empty the star schema and the watermarks, then promote the same runs again.
    with engine.begin() as conn:
        for table in built:
            conn.execute(sa.text(f"delete from user_access_layer.{table}"))
        conn.execute(sa.text("delete from etl_control.watermarks"))
    run(settings, area, "r1", first_batch())
    run(settings, area, "r2", second)

    # Assert
    assert snapshot(engine)["star"] == built


# --- the fast path: a first sync into empty targets INSERTs instead of merging ------------------

FAST_LOG = "olist_etl.gates.results"


def rich_batch() -> dict[str, list[tuple]]:
    """first_batch with what the merges work hardest at: a person's address history over several
    customer rows, lookback copies (an older version of a staged key), an order of the person's
    second address, an order without items, and a second point in a zip."""
    batch = first_batch()
    batch["customers"] += [(C3, U1, "30140", "belo horizonte", "MG", T1)]
    batch["orders"] += [
        order(O3, "delivered", datetime(2018, 3, 2, 8), T1, delivered=datetime(2018, 3, 9), estimated=datetime(2018, 3, 8), customer=C3),
        order(O1, "created", datetime(2018, 2, 27, 9, 30), T0 - timedelta(hours=1)),
    ]
    batch["order_items"] += [
        (O3, 1, P2, S1, datetime(2018, 3, 3), Decimal("10.00"), Decimal("1.00"), T1),
        # An older copy of an item: the totals count its newest version only.
        (O1, 2, P2, S1, datetime(2018, 3, 1), Decimal("150.00"), Decimal("7.77"), T0 - timedelta(hours=1)),
    ]
    # An order without items: its totals are 0 and 0.00, not NULL.
    batch["orders"] += [order(O4, "created", datetime(2018, 3, 3, 10), T1, customer=C2)]
    batch["order_payments"] += [(O3, 1, "voucher", 1, Decimal("11.00"), T1), (O1, 1, "credit_card", 2, Decimal("227.44"), T0 - timedelta(hours=1))]
    batch["products"] += [(P1, "beleza_saude", 41, 300, 2, 500, 20, 10, 15, T0 - timedelta(hours=1))]
    batch["geolocation"] += [(4, "20040", -22.8, -43.1, "Rio de Janeiro", "RJ", T1)]
    return batch


def promote_logged(caplog, settings, manifest, **kwargs) -> tuple[dict[str, int], list[str]]:
    """Promote; returns the affected rows and the steps that took the fast path."""
    caplog.clear()
    with caplog.at_level("INFO", logger=FAST_LOG):
        affected = promote(settings, manifest, **kwargs)
    fast = [r.getMessage().split()[1] for r in caplog.records if "(into empty)" in r.getMessage()]
    return affected, fast


def empty_star_schema(engine) -> None:
    with engine.begin() as conn:
        for table in table_checksums(engine, "user_access_layer"):
            conn.execute(sa.text(f"delete from user_access_layer.{table}"))
        conn.execute(sa.text("delete from etl_control.watermarks"))


def test_the_fast_path_into_an_empty_warehouse_builds_what_the_merge_builds(warehouse, caplog):
    # Arrange
    settings, engine, area = warehouse
    manifest = load_run(settings, area, "r1", rich_batch())

    # Act: the same loaded run, into the empty star schema, inserted and then merged.
    fast_rows, fast_steps = promote_logged(caplog, settings, manifest)
    inserted = snapshot(engine)["star"]
    empty_star_schema(engine)
    merge_rows, merge_steps = promote_logged(caplog, settings, manifest, fast_path=False)
    merged_star = snapshot(engine)["star"]

    # Assert: every step with a fast path took it, the forced merge none, and both wrote the
    # same rows, byte for byte. The fast fact_orders insert summed the item totals itself, so
    # fact_orders_totals updated no order there; the merge updated each order once.
    assert sorted(fast_steps) == sorted(FAST_PATH) and merge_steps == []
    assert inserted == merged_star
    assert fast_rows == merge_rows | {"fact_orders_totals": 0}
    assert merge_rows["fact_orders_totals"] == merge_rows["fact_orders"] > 0
    assert inserted["dim_customer"][0] == 4 and inserted["geolocation_point"][0] == 4


def test_the_fast_and_merged_builds_of_different_data_differ(warehouse, caplog):
    # The comparison above can fail: one changed city in the run merged instead of inserted.
    settings, engine, area = warehouse
    promote_logged(caplog, settings, load_run(settings, area, "r1", rich_batch()))
    inserted = snapshot(engine)["star"]
    empty_star_schema(engine)
    changed = rich_batch()
    changed["customers"][2] = (C3, U1, "30140", "contagem", "MG", T1)
    promote_logged(caplog, settings, load_run(settings, area, "r2", changed), fast_path=False)
    merged_star = snapshot(engine)["star"]

    differing = {table for table in inserted if inserted[table] != merged_star[table]}
    assert differing == {"customer_account", "dim_customer"}


def test_a_table_holding_rows_is_merged_and_an_unknown_member_alone_is_empty(warehouse, caplog):
    # Arrange: a promoted run, then dim_seller emptied down to its unknown member.
    settings, engine, area = warehouse
    promote_logged(caplog, settings, load_run(settings, area, "r1", first_batch()))
    with engine.begin() as conn:
        conn.execute(sa.text("delete from user_access_layer.dim_seller where seller_key <> :k"), {"k": UNKNOWN})

    # Act: the same rows again (an INSERT into a table holding them would break its primary key).
    _, fast_steps = promote_logged(caplog, settings, load_run(settings, area, "r2", first_batch()))

    # Assert
    assert fast_steps == ["dim_seller"]
    assert fetch(engine, "select seller_id, is_current from user_access_layer.dim_seller order by 1 nulls first") == [(None, True), (S1, True)]


def test_the_promote_analyzes_the_tables_it_filled_from_empty(warehouse, caplog):
    # Arrange: a fresh warehouse has never been analyzed (reltuples -1 on PostgreSQL).
    settings, engine, area = warehouse
    estimate = "select reltuples from pg_class where oid = cast(:t as regclass)"
    assert fetch(engine, estimate, t="user_access_layer.fact_orders") == [(-1.0,)]

    # Act
    promote_logged(caplog, settings, load_run(settings, area, "r1", first_batch()))
    analyzed_first = [r.getMessage() for r in caplog.records if r.getMessage().startswith("promote analyze")]
    promote_logged(caplog, settings, load_run(settings, area, "r2", first_batch()))
    analyzed_again = [r.getMessage() for r in caplog.records if r.getMessage().startswith("promote analyze")]

    # Assert: planned from the rows the run wrote; a run into filled tables analyzes nothing.
    assert fetch(engine, estimate, t="user_access_layer.fact_orders") == [(2.0,)]
    assert fetch(engine, estimate, t="user_access_layer.geolocation_point") == [(3.0,)]
    assert "fact_orders" in analyzed_first[0] and analyzed_again[0].startswith("promote analyze nothing")


def test_geolocation_recomputes_only_the_zips_of_its_delta(warehouse):
    # Arrange: a promoted run, then zip 20040's stored row tampered with (a marker of whether a
    # run recomputes it: a recomputed zip is rewritten from its points).
    settings, engine, area = warehouse
    run(settings, area, "r1", first_batch())
    with engine.begin() as conn:
        conn.execute(sa.text("update user_access_layer.dim_geolocation set point_count = 99 where geolocation_zip_code_prefix = '20040'"))
    zips = "select geolocation_zip_code_prefix, point_count from user_access_layer.dim_geolocation order by 1"

    # Act / Assert: a delta of zip 01310 leaves 20040 alone; one of 20040 recomputes it.
    run(settings, area, "r2", {"geolocation": [(1, "01310", -23.4, -46.5, "sao paulo", "SP", T1)]})
    assert fetch(engine, zips) == [("01310", 2), ("20040", 99)]
    run(settings, area, "r3", {"geolocation": [(3, "20040", -22.9, -43.2, "rio de janeiro", "RJ", T2)]})
    assert fetch(engine, zips) == [("01310", 2), ("20040", 1)]
