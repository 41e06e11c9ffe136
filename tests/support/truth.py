"""Helpers for the sync-truth tests: drive the CLI, change a MariaDB source the ways real sources
change (deletes, key changes, timestamps set back or left equal, late commits), and compare the
warehouse with the source through olist_etl.warehouse.compare."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.warehouse.compare import compare_all

# An updated_at far behind any watermark: the incremental window never sees it.
SET_BACK = datetime(2017, 1, 1, 0, 0, 0)


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def cli_json(capsys, *args: str) -> tuple[int, dict]:
    """Run a command given --json; its exit code and the one JSON object it printed."""
    code, out = run_cli(capsys, *args)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got: {out!r}"
    return code, json.loads(lines[0])


def sync_json(capsys, mode: str) -> tuple[int, dict]:
    return cli_json(capsys, "sync", "--mode", mode, "--json")


def differences(source_url: str, warehouse_url: str) -> dict[str, dict]:
    """Every table that differs, with what differs; {} when the warehouse equals the source."""
    source, warehouse = sa.create_engine(source_url), sa.create_engine(warehouse_url)
    try:
        return {d.table: d.to_dict(limit=5) for d in compare_all(source, warehouse) if not d.equal}
    finally:
        source.dispose()
        warehouse.dispose()


def execute(url: str, statements: list[tuple[str, dict]]) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for sql, params in statements:
                conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def one(url: str, sql: str, **params):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).first()
    finally:
        engine.dispose()


def tamper_warehouse(warehouse_url: str, *, extra_review: str) -> tuple[tuple, tuple]:
    """Drift behind the pipeline's back: a cent on an item, a payment lost, a review that never was.

    Returns the item's and the payment's keys."""
    item = one(warehouse_url, "select order_id, order_item_id from user_access_layer.fact_order_items order by 1, 2 limit 1")
    payment = one(warehouse_url, "select order_id, payment_sequential from user_access_layer.fact_payments order by 1, 2 limit 1")
    execute(warehouse_url, [
        ("update user_access_layer.fact_order_items set price = price + 0.01 where order_id = :o and order_item_id = :i",
         {"o": item[0], "i": item[1]}),
        ("delete from user_access_layer.fact_payments where order_id = :o and payment_sequential = :s", {"o": payment[0], "s": payment[1]}),
        ("insert into user_access_layer.fact_reviews (review_id, order_id, review_score) values (:r, :o, 1)", {"r": extra_review, "o": item[0]}),
    ])
    return tuple(item), tuple(payment)


def pick(conn, sql: str, rng: random.Random, n: int) -> list[tuple]:
    rows = [tuple(r) for r in conn.execute(sa.text(sql))]
    rng.shuffle(rows)
    return rows[:n]


def random_changes(url: str, rng: random.Random, size: int = 4, *, equal_timestamps: bool = False) -> list[str]:
    """One round of changes a real source sees; returns what was done (for failure messages).

    `equal_timestamps` adds corrections that keep updated_at as it was: a full or diff sync finds
    them (they compare every column), an incremental's key-and-updated_at comparison does not.

    Products, sellers and customers are never deleted here: their orders and items would become
    orphans, which the gates block by design (tests/test_gate.py covers that).
    """
    done: list[str] = []
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for order_id, seq in pick(conn, "select order_id, payment_sequential from order_payments", rng, size):
                conn.execute(sa.text("delete from order_payments where order_id = :o and payment_sequential = :s"), {"o": order_id, "s": seq})
                done.append(f"delete payment {order_id}/{seq}")
            for review_id, order_id in pick(conn, "select review_id, order_id from order_reviews", rng, size):
                conn.execute(sa.text("delete from order_reviews where review_id = :r and order_id = :o"), {"r": review_id, "o": order_id})
                done.append(f"delete review {review_id}/{order_id}")
            for (geo_id,) in pick(conn, "select geolocation_id from geolocation", rng, size):
                conn.execute(sa.text("delete from geolocation where geolocation_id = :g"), {"g": geo_id})
                done.append(f"delete geolocation {geo_id}")
            # Key change: an item renumbered (its order keeps its total).
            for order_id, item in pick(conn, "select order_id, order_item_id from order_items", rng, size):
                conn.execute(
                    sa.text("update order_items set order_item_id = order_item_id + 100 where order_id = :o and order_item_id = :i"),
                    {"o": order_id, "i": item},
                )
                done.append(f"renumber item {order_id}/{item}")
            # A correction under a clock set back: the window never sees it.
            for (order_id,) in pick(conn, "select order_id from orders", rng, size):
                status = rng.choice(["processing", "invoiced", "shipped", "unavailable"])
                conn.execute(sa.text("update orders set order_status = :st, updated_at = :t where order_id = :o"),
                             {"st": status, "t": SET_BACK, "o": order_id})
                done.append(f"set back order {order_id} -> {status}")
            # A correction that keeps updated_at as it was (a manual fix, a restore).
            for (product_id,) in pick(conn, "select product_id from products", rng, size if equal_timestamps else 0):
                conn.execute(
                    sa.text("update products set product_photos_qty = coalesce(product_photos_qty, 0) + 1, updated_at = updated_at "
                            "where product_id = :p"),
                    {"p": product_id},
                )
                done.append(f"equal-timestamp product {product_id}")
            # A plain change with a new timestamp, and a new payment.
            for order_id, seq, value in pick(conn, "select order_id, payment_sequential, payment_value from order_payments", rng, size):
                conn.execute(sa.text("update order_payments set payment_value = :v where order_id = :o and payment_sequential = :s"),
                             {"v": value + 1, "o": order_id, "s": seq})
                done.append(f"payment value {order_id}/{seq}")
            for (order_id,) in pick(conn, "select order_id from orders", rng, max(1, size // 2)):
                seq = conn.execute(sa.text("select coalesce(max(payment_sequential), 0) + 1 from order_payments where order_id = :o"),
                                   {"o": order_id}).scalar_one()
                conn.execute(
                    sa.text("insert into order_payments (order_id, payment_sequential, payment_type, payment_installments, "
                            "payment_value, updated_at) values (:o, :s, 'voucher', 1, 5.00, :t)"),
                    {"o": order_id, "s": seq, "t": datetime.utcnow() - timedelta(hours=rng.choice([0, 5]))},
                )
                done.append(f"insert payment {order_id}/{seq}")
    finally:
        engine.dispose()
    return done
