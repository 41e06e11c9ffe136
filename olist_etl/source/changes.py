"""Simulate a day of business on the source, so incremental syncs have something to carry.

One transaction applies: new orders (with new customers, items, payments and some reviews),
status transitions that fill the matching timestamps (approved/processing/invoiced -> shipped
fills order_delivered_carrier_date, shipped -> delivered fills order_delivered_customer_date,
some cancellations), late reviews for delivered orders that had none, product updates (weight,
category) and seller moves (zip, city, state). The database moves updated_at on every changed row.

Deterministic for a given seed and the current source contents: candidates are read ordered by
key, every draw comes from one numpy Generator seeded with `seed`, and new timestamps continue
from the data (the latest purchase), never from the wall clock. New ids are md5(seed, kind,
counter), skipping any id the table already has, so running again never collides.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Sequence

import numpy as np
import sqlalchemy as sa

from olist_etl.source.generate import MESSAGES, REVIEW_SCORES, TITLES
from olist_etl.source.schema import source_dialect
from olist_etl.tables import get_table, quote_ident, quote_mysql_ident

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
SHIPPABLE = ("approved", "processing", "invoiced")
CANCELLABLE = ("created", "approved", "processing", "invoiced")
NEW_ORDER_STATUSES = (("created", 0.05), ("approved", 0.35), ("processing", 0.20), ("invoiced", 0.40))

# Per kind, the share of the orders count that one run touches (times `fraction`).
DELIVER_SHARE = 0.5
SHIP_SHARE = 0.3
CANCEL_SHARE = 0.05
LATE_REVIEW_SHARE = 0.3
NEW_ORDER_REVIEW_RATE = 0.2
RETURNING_CUSTOMER_RATE = 0.1


@dataclass
class ChangeReport:
    counts: dict[str, int] = field(default_factory=dict)
    # Existing orders whose status this run changed (shipped, delivered or canceled).
    status_changed_order_ids: list[str] = field(default_factory=list)
    new_order_ids: list[str] = field(default_factory=list)
    updated_product_ids: list[str] = field(default_factory=list)
    updated_seller_ids: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return "source changes: " + ", ".join(f"{kind} {count:,}" for kind, count in self.counts.items())


def _share(total: int, fraction: float, share: float = 1.0) -> int:
    """How many rows a kind of change touches: at least one, whatever the scale."""
    return max(1, round(total * fraction * share))


def _as_datetime(value: datetime | str | None) -> datetime | None:
    # MySQL returns datetimes, SQLite the text we stored.
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.strftime(TIMESTAMP_FORMAT)


def _cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _gamma_delta(rng: np.random.Generator, shape: float, mean_days: float) -> timedelta:
    return timedelta(seconds=int(rng.gamma(shape, mean_days * 86_400 / shape)))


class _Source:
    """Statements on the source connection with catalog identifiers quoted for its dialect."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self.q = quote_mysql_ident if source_dialect(conn) == "mysql" else quote_ident

    def rows(self, sql: str, **params) -> list[sa.Row]:
        return self.conn.execute(sa.text(sql), params).all()

    def scalar(self, sql: str, **params):
        return self.conn.execute(sa.text(sql), params).scalar()

    def insert(self, table: str, rows: Sequence[dict]) -> int:
        if not rows:
            return 0
        columns = get_table(table).column_names
        sql = (
            f"INSERT INTO {self.q(table)} ({', '.join(self.q(c) for c in columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})"
        )
        self.conn.execute(sa.text(sql), [{c: row.get(c) for c in columns} for row in rows])
        return len(rows)

    def update(self, table: str, set_columns: Sequence[str], where_columns: Sequence[str], rows: Sequence[dict]) -> int:
        """executemany UPDATE; returns the rows matched (each `where` names one row)."""
        if not rows:
            return 0
        sets = ", ".join(f"{self.q(c)} = :{c}" for c in set_columns)
        where = " AND ".join(f"{self.q(c)} = :where_{c}" for c in where_columns)
        params = [{**{c: r[c] for c in set_columns}, **{f"where_{c}": r[f'where_{c}'] for c in where_columns}} for r in rows]
        return self.conn.execute(sa.text(f"UPDATE {self.q(table)} SET {sets} WHERE {where}"), params).rowcount

    def existing(self, table: str, column: str, values: Sequence[str]) -> set[str]:
        query = sa.text(f"SELECT {self.q(column)} FROM {self.q(table)} WHERE {self.q(column)} IN :values")
        query = query.bindparams(sa.bindparam("values", expanding=True))
        return set(self.conn.execute(query, {"values": list(values)}).scalars())


def fresh_ids(src: _Source, table: str, column: str, seed: int, kind: str, count: int) -> list[str]:
    """`count` new 32-hex ids from md5(seed, kind, counter) that `table.column` does not hold yet."""
    found: list[str] = []
    counter = 0
    while len(found) < count:
        batch = [hashlib.md5(f"olist-change:{seed}:{kind}:{counter + i}".encode()).hexdigest() for i in range(count - len(found))]
        counter += len(batch)
        taken = src.existing(table, column, batch)
        found += [i for i in batch if i not in taken and i not in found]
    return found


def _pick(rng: np.random.Generator, candidates: Sequence, count: int) -> list:
    """`count` of the candidates (fewer if there are fewer), in candidate order."""
    count = min(count, len(candidates))
    if count == 0:
        return []
    return [candidates[i] for i in sorted(rng.choice(len(candidates), count, replace=False))]


def _review(rng: np.random.Generator, review_id: str, order_id: str, created: datetime) -> dict:
    scores, weights = zip(*REVIEW_SCORES)
    score = int(rng.choice(np.array(scores), p=np.array(weights) / sum(weights)))
    mood = "good" if score >= 4 else "fair" if score == 3 else "bad"
    message = MESSAGES[mood][int(rng.integers(len(MESSAGES[mood])))] if rng.random() < 0.45 else None
    title = TITLES[mood][int(rng.integers(len(TITLES[mood])))] if rng.random() < 0.15 else None
    return {
        "review_id": review_id,
        "order_id": order_id,
        "review_score": score,
        "review_comment_title": title,
        "review_comment_message": message,
        "review_creation_date": _text(created),
        "review_answer_timestamp": _text(created + timedelta(hours=1) + _gamma_delta(rng, 1.2, 2.5)),
    }


def _day_after(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day) + timedelta(days=1)


def transition_statuses(src: _Source, rng: np.random.Generator, total: int, fraction: float, report: ChangeReport) -> None:
    """Cancel some unshipped orders, ship some approved ones, deliver some shipped ones."""
    q = src.q
    columns = f"{q('order_id')}, {q('order_status')}, {q('order_purchase_timestamp')}, {q('order_approved_at')}, {q('order_delivered_carrier_date')}"
    open_orders = src.rows(
        f"SELECT {columns} FROM {q('orders')} WHERE {q('order_status')} IN ({', '.join(':s' + str(i) for i in range(len(CANCELLABLE)))}) ORDER BY {q('order_id')}",
        **{f"s{i}": s for i, s in enumerate(CANCELLABLE)},
    )
    shipped = src.rows(f"SELECT {columns} FROM {q('orders')} WHERE {q('order_status')} = :s ORDER BY {q('order_id')}", s="shipped")

    canceled = _pick(rng, open_orders, _share(total, fraction, CANCEL_SHARE))
    canceled_ids = {row.order_id for row in canceled}
    shippable = [row for row in open_orders if row.order_id not in canceled_ids and row.order_status in SHIPPABLE]
    to_ship = _pick(rng, shippable, _share(total, fraction, SHIP_SHARE))
    to_deliver = _pick(rng, shipped, _share(total, fraction, DELIVER_SHARE))

    updates = []
    for row in canceled:
        updates.append({"order_status": "canceled", "order_delivered_carrier_date": _text(_as_datetime(row.order_delivered_carrier_date)),
                        "order_delivered_customer_date": None, "where_order_id": row.order_id, "where_order_status": row.order_status})
    for row in to_ship:
        ready = _as_datetime(row.order_approved_at) or _as_datetime(row.order_purchase_timestamp)
        carrier = ready + timedelta(hours=1) + _gamma_delta(rng, 2.0, 2.8)
        updates.append({"order_status": "shipped", "order_delivered_carrier_date": _text(carrier),
                        "order_delivered_customer_date": None, "where_order_id": row.order_id, "where_order_status": row.order_status})
    for row in to_deliver:
        handed_over = _as_datetime(row.order_delivered_carrier_date) or _as_datetime(row.order_approved_at) or _as_datetime(row.order_purchase_timestamp)
        delivered = handed_over + timedelta(hours=1) + _gamma_delta(rng, 2.5, 8.7)
        updates.append({"order_status": "delivered", "order_delivered_carrier_date": _text(handed_over),
                        "order_delivered_customer_date": _text(delivered), "where_order_id": row.order_id, "where_order_status": "shipped"})
    src.update("orders", ["order_status", "order_delivered_carrier_date", "order_delivered_customer_date"], ["order_id", "order_status"], updates)
    report.counts.update(canceled=len(canceled), shipped=len(to_ship), delivered=len(to_deliver))
    report.status_changed_order_ids = sorted(u["where_order_id"] for u in updates)


def add_late_reviews(src: _Source, rng: np.random.Generator, seed: int, total: int, fraction: float, report: ChangeReport) -> None:
    """Reviews arriving for delivered orders that had none."""
    q = src.q
    candidates = src.rows(
        f"SELECT o.{q('order_id')}, o.{q('order_delivered_customer_date')} FROM {q('orders')} o"
        f" WHERE o.{q('order_status')} = :s AND o.{q('order_delivered_customer_date')} IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {q('order_reviews')} r WHERE r.{q('order_id')} = o.{q('order_id')})"
        f" ORDER BY o.{q('order_id')}",
        s="delivered",
    )
    chosen = _pick(rng, candidates, _share(total, fraction, LATE_REVIEW_SHARE))
    ids = fresh_ids(src, "order_reviews", "review_id", seed, "late-review", len(chosen))
    reviews = [
        _review(rng, review_id, row.order_id, _day_after(_as_datetime(row.order_delivered_customer_date)) + timedelta(days=int(rng.integers(0, 30))))
        for review_id, row in zip(ids, chosen)
    ]
    report.counts["late_reviews"] = src.insert("order_reviews", reviews)


def add_new_orders(src: _Source, rng: np.random.Generator, seed: int, total: int, fraction: float, report: ChangeReport) -> None:
    """New orders after the latest purchase, each with a new customer, items and payments."""
    q = src.q
    products = src.rows(f"SELECT {q('product_id')} FROM {q('products')} ORDER BY {q('product_id')}")
    sellers = src.rows(f"SELECT {q('seller_id')} FROM {q('sellers')} ORDER BY {q('seller_id')}")
    if not products or not sellers:
        raise ValueError("new orders need products and sellers in the source")
    people = src.rows(
        f"SELECT {q('customer_unique_id')}, {q('customer_zip_code_prefix')}, {q('customer_city')}, {q('customer_state')}"
        f" FROM {q('customers')} ORDER BY {q('customer_id')}"
    )
    latest = _as_datetime(src.scalar(f"SELECT MAX({q('order_purchase_timestamp')}) FROM {q('orders')}")) or datetime(2018, 10, 1)

    count = _share(total, fraction)
    order_ids = fresh_ids(src, "orders", "order_id", seed, "order", count)
    customer_ids = fresh_ids(src, "customers", "customer_id", seed, "customer", count)
    person_ids = fresh_ids(src, "customers", "customer_unique_id", seed, "person", count)
    review_ids = fresh_ids(src, "order_reviews", "review_id", seed, "review", count)
    statuses, weights = zip(*NEW_ORDER_STATUSES)

    customers, orders, items, payments, reviews = [], [], [], [], []
    purchase = latest
    for n, (order_id, customer_id) in enumerate(zip(order_ids, customer_ids)):
        purchase = purchase + timedelta(seconds=int(rng.integers(30, 900)))
        status = statuses[int(rng.choice(len(statuses), p=np.array(weights) / sum(weights)))]
        approved = None if status == "created" else purchase + timedelta(seconds=int(rng.integers(0, 3_600)))
        if people and rng.random() < RETURNING_CUSTOMER_RATE:
            person, zip_code, city, state = people[int(rng.integers(len(people)))]
        else:
            _, zip_code, city, state = people[int(rng.integers(len(people)))] if people else (None, None, None, None)
            person = person_ids[n]
        customers.append({"customer_id": customer_id, "customer_unique_id": person, "customer_zip_code_prefix": zip_code,
                          "customer_city": city, "customer_state": state})
        orders.append({"order_id": order_id, "customer_id": customer_id, "order_status": status,
                       "order_purchase_timestamp": _text(purchase), "order_approved_at": _text(approved),
                       "order_delivered_carrier_date": None, "order_delivered_customer_date": None,
                       "order_estimated_delivery_date": _text(_day_after(purchase) + timedelta(days=int(rng.integers(10, 45))))})
        total_cents = 0
        for position in range(int(rng.choice([1, 2, 3], p=[0.85, 0.10, 0.05]))):
            price = int(np.clip(rng.lognormal(np.log(7_500), 0.9), 85, 680_000))
            freight = int(600 + rng.gamma(2.0, 450.0))
            total_cents += price + freight
            items.append({"order_id": order_id, "order_item_id": position + 1,
                          "product_id": products[int(rng.integers(len(products)))].product_id,
                          "seller_id": sellers[int(rng.integers(len(sellers)))].seller_id,
                          "shipping_limit_date": _text((approved or purchase) + timedelta(days=6)),
                          "price": _cents_text(price), "freight_value": _cents_text(freight)})
        card = rng.random() < 0.78
        payments.append({"order_id": order_id, "payment_sequential": 1, "payment_type": "credit_card" if card else "boleto",
                         "payment_installments": int(rng.integers(1, 11)) if card else 1, "payment_value": _cents_text(total_cents)})
        if rng.random() < NEW_ORDER_REVIEW_RATE:
            reviews.append(_review(rng, review_ids[len(reviews)], order_id, _day_after(purchase) + timedelta(days=int(rng.integers(1, 20)))))

    report.counts["new_customers"] = src.insert("customers", customers)
    report.counts["new_orders"] = src.insert("orders", orders)
    report.counts["new_order_items"] = src.insert("order_items", items)
    report.counts["new_payments"] = src.insert("order_payments", payments)
    report.counts["new_reviews"] = src.insert("order_reviews", reviews)
    report.new_order_ids = list(order_ids)


def update_products(src: _Source, rng: np.random.Generator, fraction: float, report: ChangeReport) -> None:
    """New weights for some products, and a new category for half of those."""
    q = src.q
    products = src.rows(f"SELECT {q('product_id')}, {q('product_category_name')}, {q('product_weight_g')} FROM {q('products')} ORDER BY {q('product_id')}")
    categories = [r[0] for r in src.rows(
        f"SELECT {q('product_category_name')} FROM {q('product_category_name_translation')} ORDER BY {q('product_category_name')}")]
    updates = []
    for row in _pick(rng, products, _share(len(products), fraction)):
        # The weight always moves, so the row really changes and updated_at with it.
        weight = (row.product_weight_g or 500) + int(rng.integers(1, 500))
        category = row.product_category_name
        others = [c for c in categories if c != category]
        if others and rng.random() < 0.5:
            category = others[int(rng.integers(len(others)))]
        updates.append({"product_weight_g": weight, "product_category_name": category, "where_product_id": row.product_id})
    report.counts["product_updates"] = src.update("products", ["product_weight_g", "product_category_name"], ["product_id"], updates)
    report.updated_product_ids = [u["where_product_id"] for u in updates]


def move_sellers(src: _Source, rng: np.random.Generator, fraction: float, report: ChangeReport) -> None:
    """Some sellers move: zip, city and state from a customer's address, different from theirs."""
    q = src.q
    sellers = src.rows(
        f"SELECT {q('seller_id')}, {q('seller_zip_code_prefix')}, {q('seller_city')}, {q('seller_state')} FROM {q('sellers')} ORDER BY {q('seller_id')}"
    )
    places = src.rows(
        f"SELECT DISTINCT {q('customer_zip_code_prefix')}, {q('customer_city')}, {q('customer_state')} FROM {q('customers')}"
        f" ORDER BY {q('customer_zip_code_prefix')}, {q('customer_city')}, {q('customer_state')}"
    )
    updates = []
    for row in _pick(rng, sellers, _share(len(sellers), fraction)):
        current = (row.seller_zip_code_prefix, row.seller_city, row.seller_state)
        elsewhere = [tuple(p) for p in places if tuple(p) != current]
        if not elsewhere:
            continue
        zip_code, city, state = elsewhere[int(rng.integers(len(elsewhere)))]
        updates.append({"seller_zip_code_prefix": zip_code, "seller_city": city, "seller_state": state, "where_seller_id": row.seller_id})
    report.counts["seller_updates"] = src.update("sellers", ["seller_zip_code_prefix", "seller_city", "seller_state"], ["seller_id"], updates)
    report.updated_seller_ids = [u["where_seller_id"] for u in updates]


def simulate_changes(engine: sa.Engine, seed: int, fraction: float = 0.01) -> ChangeReport:
    """Apply one deterministic batch of realistic changes; `fraction` scales every kind by the orders count."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    source_dialect(engine)
    rng = np.random.default_rng(seed)
    report = ChangeReport()
    with engine.begin() as conn:
        src = _Source(conn)
        total = src.scalar(f"SELECT COUNT(*) FROM {src.q('orders')}")
        if not total:
            raise ValueError("the source has no orders; seed it before simulating changes")
        # Existing rows change first, so this run's new orders are not transitioned at once.
        transition_statuses(src, rng, total, fraction, report)
        add_late_reviews(src, rng, seed, total, fraction, report)
        update_products(src, rng, fraction, report)
        move_sellers(src, rng, fraction, report)
        add_new_orders(src, rng, seed, total, fraction, report)
    return report


def check_seeded(engine: sa.Engine, where: str, *, yes: bool) -> str:
    """Before simulate-changes writes: only a database seed-source filled, unless `yes`.

    `where` is the masked URL. Returns the line to print; raises SourceRefused, having changed
    nothing, for a database without the seed marker when `yes` is not given.
    """
    from olist_etl.source.schema import SEED_MARKER, SourceRefused, describe_seed_marker, read_seed_marker

    marker = read_seed_marker(engine)
    if marker is not None:
        return f"changing the source {where}, {describe_seed_marker(marker)}"
    if not yes:
        raise SourceRefused(
            f"refused: {where} was not seeded by `olist-etl seed-source` (it has no {SEED_MARKER} marker table),"
            " and simulate-changes inserts and updates rows in its orders, customers, items, payments, reviews,"
            " products and sellers; nothing was changed. --yes changes it anyway"
        )
    return f"changing the source {where} (not seeded by olist-etl seed-source; --yes given)"
