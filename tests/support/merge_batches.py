"""A small, fully known batch of every source table, and how to load and promote it: the star
schema tests (merge, post-merge suite) build their runs from it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from olist_etl.load import load_table
from olist_etl.manifest import RunManifest
from olist_etl.merge import promote
from olist_etl.tables import TABLE_NAMES
from tests.support.tables import table_checksums
from tests.support.warehouse import hexid, stage_run

T0 = datetime(2018, 3, 1, 10, 0, 0)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)

FIRST, END = datetime(1900, 1, 1), datetime(9999, 12, 31)
UNKNOWN = "0" * 32

C1, C2, C3 = hexid(1, "c"), hexid(2, "c"), hexid(3, "c")
U1, U2, U3 = hexid(1, "u"), hexid(2, "u"), hexid(3, "u")
P1, P2, P3 = hexid(1, "p"), hexid(2, "p"), hexid(3, "p")
S1 = hexid(1, "s")
O1, O2, O3, O4 = hexid(1, "o"), hexid(2, "o"), hexid(3, "o"), hexid(4, "o")
R1 = hexid(1, "r")

MERGE_STEP_NAMES = (
    "product_category_translation", "dim_product", "customer_account", "dim_customer", "dim_seller",
    "dim_geolocation", "geolocation_point", "dim_date", "fact_orders", "fact_order_items",
    "fact_orders_totals", "fact_payments", "fact_reviews",
)


def order(order_id, status, purchase, updated_at, *, delivered=None, estimated=None, customer=C1):
    return (order_id, customer, status, purchase, purchase, None, delivered, estimated, updated_at)


def first_batch() -> dict[str, list[tuple]]:
    return {
        "customers": [
            (C1, U1, "01310", "são paulo", "SP", T0),
            (C2, U2, "20040", "rio de janeiro", "RJ", T0),
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


def load_run(settings, area, run_id: str, rows: dict) -> RunManifest:
    manifest = stage_run(area, run_id, rows)
    for name in TABLE_NAMES:
        load_table(settings, manifest, name)
    return manifest


def run(settings, area, run_id: str, rows: dict) -> dict[str, int]:
    return promote(settings, load_run(settings, area, run_id, rows))


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
