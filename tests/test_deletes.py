"""Deletes reach the star schema (real PostgreSQL): a full sync marks every stored key missing from
its delta, an incremental the keys its source comparison listed; SCD2 dimensions close the current
version; a key that comes back is live again; derived rows (order totals, a person, a zip) follow."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from olist_etl.deleted_keys import write_deleted_keys
from olist_etl.tables import TABLE_NAMES, get_table
from olist_etl.load import load_table
from olist_etl.merge import promote
from tests.support.tables import assert_tables_unchanged, table_checksums
from tests.support.warehouse import hexid, stage_run

T0 = datetime(2018, 3, 1, 10, 0, 0)
T1 = T0 + timedelta(hours=1)
C1, C2 = hexid(1, "c"), hexid(2, "c")
U1, U2 = hexid(1, "u"), hexid(2, "u")
P1, P2 = hexid(1, "p"), hexid(2, "p")
S1, S2 = hexid(1, "s"), hexid(2, "s")
O1, O2 = hexid(1, "o"), hexid(2, "o")
R1, R2 = hexid(1, "r"), hexid(2, "r")
PURCHASE = datetime(2018, 2, 27, 9, 30)

pytestmark = pytest.mark.integration


def source_rows() -> dict[str, list[tuple]]:
    """A small source in catalog order, updated_at last."""
    return {
        "customers": [(C1, U1, "01310", "são paulo", "SP", T0), (C2, U2, "20040", "rio de janeiro", "RJ", T0)],
        "sellers": [(S1, "13023", "campinas", "SP", T0), (S2, "20040", "rio de janeiro", "RJ", T0)],
        "products": [
            (P1, "beleza_saude", 40, 300, 2, 500, 20, 10, 15, T0),
            (P2, "esporte_lazer", 10, 100, 1, 100, 5, 5, 5, T0),
        ],
        "product_category_name_translation": [("beleza_saude", "health_beauty", T0), ("esporte_lazer", "sports_leisure", T0)],
        "orders": [
            (O1, C1, "delivered", PURCHASE, PURCHASE, None, PURCHASE + timedelta(days=5), PURCHASE + timedelta(days=9), T0),
            (O2, C2, "shipped", PURCHASE, PURCHASE, None, None, PURCHASE + timedelta(days=9), T0),
        ],
        "order_items": [
            (O1, 1, P1, S1, PURCHASE, Decimal("10.00"), Decimal("1.00"), T0),
            (O1, 2, P2, S2, PURCHASE, Decimal("20.00"), Decimal("2.00"), T0),
            (O2, 1, P2, S1, PURCHASE, Decimal("30.00"), Decimal("3.00"), T0),
        ],
        "order_payments": [(O1, 1, "credit_card", 1, Decimal("33.00"), T0), (O1, 2, "voucher", 1, Decimal("0.00"), T0),
                           (O2, 1, "boleto", 1, Decimal("33.00"), T0)],
        "order_reviews": [(R1, O1, 5, None, "bom", PURCHASE + timedelta(days=6), PURCHASE + timedelta(days=7), T0),
                          (R2, O2, 3, None, None, PURCHASE + timedelta(days=6), PURCHASE + timedelta(days=7), T0)],
        "geolocation": [(1, "01310", -23.5, -46.6, "sao paulo", "SP", T0), (2, "01310", -23.6, -46.7, "sao paulo", "SP", T0),
                        (3, "20040", -22.9, -43.2, "rio de janeiro", "RJ", T0)],
    }


def without(rows: dict, table: str, *positions_and_values) -> dict:
    """A copy of `rows` without the rows of `table` whose leading columns equal the values."""
    out = {name: list(table_rows) for name, table_rows in rows.items()}
    out[table] = [r for r in out[table] if tuple(r[: len(positions_and_values)]) != tuple(positions_and_values)]
    return out


def promote_run(settings, area, run_id: str, rows: dict, *, mode: str, deleted: dict[str, list[tuple]] | None = None) -> dict:
    manifest = stage_run(area, run_id, rows, mode=mode)
    for table, keys in (deleted or {}).items():
        key, count = write_deleted_keys(area, run_id, get_table(table), keys)
        manifest.tables[table].deletes = {"scope": "listed", "key": key, "rows": count}
    for name in TABLE_NAMES:
        load_table(settings, manifest, name)
    return promote(settings, manifest)


def fetch(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def live(engine, table: str, columns: str) -> list[tuple]:
    return fetch(engine, f"select {columns} from user_access_layer.{table} where deleted_at is null order by 1, 2")


def test_a_full_sync_marks_every_key_missing_from_the_source(warehouse):
    # Arrange
    settings, engine, area = warehouse
    promote_run(settings, area, "r1", source_rows(), mode="full")
    rows = without(source_rows(), "order_payments", O1, 2)
    rows = without(rows, "order_reviews", R2)
    rows = without(rows, "order_items", O1, 2)
    rows = without(rows, "sellers", S2)
    rows = without(rows, "geolocation", 3)
    rows = without(rows, "customers", C2)

    # Act
    affected = promote_run(settings, area, "r2", rows, mode="full")

    # Assert: every gone key is marked, nothing else.
    assert live(engine, "fact_payments", "order_id, payment_sequential") == [(O1, 1), (O2, 1)]
    assert live(engine, "fact_reviews", "review_id, order_id") == [(R1, O1)]
    assert live(engine, "fact_order_items", "order_id, order_item_id") == [(O1, 1), (O2, 1)]
    assert live(engine, "geolocation_point", "geolocation_id, geolocation_zip_code_prefix") == [(1, "01310"), (2, "01310")]
    assert live(engine, "customer_account", "customer_id, customer_unique_id") == [(C1, U1)]
    assert affected["deleted fact_payments"] == 1 and affected["deleted fact_order_items"] == 1
    # Deleted rows are kept for audit with the run's time.
    assert fetch(engine, "select count(*) from user_access_layer.fact_payments where deleted_at is not null") == [(1,)]
    # SCD2: the seller's current version is closed; the person whose only row went is closed too.
    assert fetch(engine, "select is_current, deleted_at is not null, valid_to < '9999-01-01' from user_access_layer.dim_seller "
                         "where seller_id = :s", s=S2) == [(False, True, True)]
    assert fetch(engine, "select is_current, deleted_at is not null from user_access_layer.dim_customer "
                         "where customer_unique_id = :u", u=U2) == [(False, True)]
    # A zip with no live point is deleted; the order totals count live items only.
    assert live(engine, "dim_geolocation", "geolocation_zip_code_prefix, point_count") == [("01310", 2)]
    assert fetch(engine, "select item_count, items_value, order_total from user_access_layer.fact_orders where order_id = :o",
                 o=O1) == [(1, Decimal("10.00"), Decimal("11.00"))]
    # The analytics views read live rows only.
    assert fetch(engine, "select sum(payments) from user_access_layer.payment_mix") == [(2,)]


def test_a_full_sync_again_changes_nothing_and_a_key_that_comes_back_is_live(warehouse):
    # Arrange
    settings, engine, area = warehouse
    promote_run(settings, area, "r1", source_rows(), mode="full")
    gone = without(without(source_rows(), "order_payments", O1, 2), "products", P2)
    promote_run(settings, area, "r2", gone, mode="full")
    after_delete = table_checksums(engine, "user_access_layer")

    # Act
    again = promote_run(settings, area, "r3", gone, mode="full")
    unchanged = table_checksums(engine, "user_access_layer")
    back = source_rows()
    back["products"][1] = (P2, "esporte_lazer", 11, 100, 1, 100, 5, 5, 5, T0)  # same updated_at, a new length
    promote_run(settings, area, "r4", back, mode="full")

    # Assert
    assert not any(v for k, v in again.items() if k.startswith("deleted"))
    assert_tables_unchanged(after_delete, unchanged)
    assert live(engine, "fact_payments", "order_id, payment_sequential") == [(O1, 1), (O1, 2), (O2, 1)]
    versions = fetch(engine, "select product_name_length, is_current, deleted_at is null, valid_from, valid_to "
                             "from user_access_layer.dim_product where product_id = :p order by valid_from", p=P2)
    assert [(v[0], v[1], v[2]) for v in versions] == [(10, False, True), (11, True, True)]
    assert versions[0][4] == versions[1][3]  # contiguous: the new version starts where the closed one ended


def test_an_incremental_marks_the_listed_keys_and_not_the_ones_it_stages(warehouse):
    # Arrange
    settings, engine, area = warehouse
    promote_run(settings, area, "r1", source_rows(), mode="full")
    before = fetch(engine, "select count(*) from user_access_layer.fact_reviews where deleted_at is null")

    # Act: R2 is gone; (O2, 1) is listed but staged again in the same run (re-inserted meanwhile).
    restaged = {"order_payments": [(O2, 1, "boleto", 1, Decimal("34.00"), T1)]}
    affected = promote_run(settings, area, "r2", restaged, mode="incremental",
                           deleted={"order_reviews": [(R2, O2)], "order_payments": [(O2, 1)]})

    # Assert
    assert before == [(2,)]
    assert live(engine, "fact_reviews", "review_id, order_id") == [(R1, O1)]
    assert sorted(live(engine, "fact_payments", "order_id, payment_value")) == sorted(
        [(O1, Decimal("33.00")), (O1, Decimal("0.00")), (O2, Decimal("34.00"))])
    assert affected["deleted fact_reviews"] == 1 and affected.get("deleted fact_payments", 0) == 0


def test_an_incremental_without_a_list_marks_nothing(warehouse):
    # Arrange
    settings, engine, area = warehouse
    promote_run(settings, area, "r1", source_rows(), mode="full")
    before = table_checksums(engine, "user_access_layer")

    # Act: an incremental stages one order only; every other key is simply not in its window.
    promote_run(settings, area, "r2", {"orders": [source_rows()["orders"][0]]}, mode="incremental")

    # Assert
    assert_tables_unchanged(before, table_checksums(engine, "user_access_layer"))


def test_a_primary_key_change_is_a_delete_and_an_insert(warehouse):
    # Arrange
    settings, engine, area = warehouse
    promote_run(settings, area, "r1", source_rows(), mode="full")
    moved = source_rows()
    # Item (O1, 2) moves to order O2 as its item 2.
    moved["order_items"] = [r for r in moved["order_items"] if r[:2] != (O1, 2)] + [
        (O2, 2, P2, S2, PURCHASE, Decimal("20.00"), Decimal("2.00"), T1)]

    # Act
    promote_run(settings, area, "r2", moved, mode="full")

    # Assert: counted once, under its new key, and both orders' totals follow.
    assert live(engine, "fact_order_items", "order_id, order_item_id") == sorted([(O1, 1), (O2, 1), (O2, 2)])
    assert fetch(engine, "select sum(price) from user_access_layer.fact_order_items where deleted_at is null") == [(Decimal("60.00"),)]
    assert fetch(engine, "select order_id, item_count, order_total from user_access_layer.fact_orders order by 1") == sorted([
        (O1, 1, Decimal("11.00")), (O2, 2, Decimal("55.00"))])


def test_a_backfill_marks_the_deleted_facts_of_the_orders_in_its_range_only(warehouse):
    # Arrange: O3 is purchased a month after O1 and O2. A payment of O1 and O3's payment are gone.
    settings, engine, area = warehouse
    O3 = hexid(3, "o")
    later = PURCHASE + timedelta(days=30)
    rows = source_rows()
    rows["orders"].append((O3, C1, "shipped", later, later, None, None, later + timedelta(days=9), T0))
    rows["order_payments"].append((O3, 1, "boleto", 1, Decimal("5.00"), T0))
    promote_run(settings, area, "r1", rows, mode="full")
    gone = without(without(rows, "order_payments", O1, 2), "order_payments", O3, 1)
    order_tables = ("orders", "order_items", "order_payments", "order_reviews")
    # A backfill of PURCHASE's day stages the orders purchased that day and their rows.
    in_range = {t: [r for r in gone[t] if (r[1] if t == "order_reviews" else r[0]) in (O1, O2)] for t in order_tables}
    manifest = stage_run(area, "r2", in_range, mode="backfill")
    manifest.purchased = {"from": PURCHASE.date().isoformat(), "to": PURCHASE.date().isoformat()}
    for name in TABLE_NAMES:
        load_table(settings, manifest, name)

    # Act
    affected = promote(settings, manifest)

    # Assert: O1's payment is marked; O3's, outside the range, waits for a full or incremental run.
    assert fetch(engine, "select order_id, payment_sequential from user_access_layer.fact_payments "
                         "where deleted_at is not null") == [(O1, 2)]
    assert affected["deleted fact_payments"] == 1
    assert live(engine, "fact_orders", "order_id, order_status") == sorted([(O1, "delivered"), (O2, "shipped"), (O3, "shipped")])
