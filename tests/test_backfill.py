"""Backfill: re-extract the orders purchased in a date range (and the rows tied to them) and merge
them idempotently, on MariaDB and PostgreSQL, driven through `olist-etl sync --mode backfill`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from tests.support.tables import assert_tables_unchanged, row_count, table_checksums
from tests.support.pipeline import purchase_days

FACT_OF = {"orders": "fact_orders", "order_items": "fact_order_items", "order_payments": "fact_payments", "order_reviews": "fact_reviews"}
TAMPER = Decimal("1000.00")


@pytest.fixture
def backfill_env(monkeypatch, olist_home, mariadb_url, postgres_url, prefect_api):
    env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": (olist_home / "staging").as_uri(),
        "OLIST_PART_ROWS": "200",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["seed-source", "--scale", "0.01", "--seed", "17"]) == 0
    return env


def sync_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["sync", *args, "--json"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got: {out!r}"
    return code, json.loads(lines[0])


def backfill(capsys, start: date, end: date) -> tuple[int, dict]:
    return sync_json(capsys, "--mode", "backfill", "--from", start.isoformat(), "--to", end.isoformat())


class Slice:
    """The rows a backfill of [start, end] must stage, worked out in Python from the whole source."""

    def __init__(self, source_url: str, start: date, end: date):
        engine = sa.create_engine(source_url)
        with engine.connect() as conn:
            orders = conn.execute(sa.text("select order_id, customer_id, order_purchase_timestamp from orders")).all()
            self.orders = {o for o, _, t in orders if t is not None and start <= t.date() <= end}
            customers = {c for o, c, _ in orders if o in self.orders}
            items = [i for i in conn.execute(sa.text("select order_id, product_id, seller_id, price from order_items")) if i.order_id in self.orders]
            payments = [p for p in conn.execute(sa.text("select order_id, payment_value from order_payments")) if p.order_id in self.orders]
            reviews = [r for r in conn.execute(sa.text("select order_id from order_reviews")) if r.order_id in self.orders]
            known_customers = set(conn.execute(sa.text("select customer_id from customers")).scalars())
            known_products = set(conn.execute(sa.text("select product_id from products")).scalars())
            known_sellers = set(conn.execute(sa.text("select seller_id from sellers")).scalars())
        engine.dispose()
        self.items = items
        self.price = sum((i.price for i in items), Decimal(0))
        self.payment_value = sum((p.payment_value for p in payments), Decimal(0))
        self.counts = {
            "orders": len(self.orders),
            "order_items": len(items),
            "order_payments": len(payments),
            "order_reviews": len(reviews),
            "customers": len(customers & known_customers),
            "products": len({i.product_id for i in items} & known_products),
            "sellers": len({i.seller_id for i in items} & known_sellers),
            "geolocation": 0,
            "product_category_name_translation": 0,
        }


def control_rows(url: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        marks = conn.execute(sa.text("select table_name, high_watermark, run_id, promoted_at from etl_control.watermarks order by 1")).all()
        runs = conn.execute(sa.text("select mode, status from etl_control.runs order by started_at")).all()
    engine.dispose()
    return {"watermarks": [tuple(r) for r in marks], "runs": [tuple(r) for r in runs]}


def item_price(engine: sa.Engine, order_id: str) -> Decimal:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select sum(price) from user_access_layer.fact_order_items where order_id = :o"), {"o": order_id}
        ).scalar_one()


def tamper(engine: sa.Engine, order_id: str, delta: Decimal) -> None:
    """Corrupt the promoted price of every item of one order, as a bad manual fix would."""
    with engine.begin() as conn:
        changed = conn.execute(
            sa.text("update user_access_layer.fact_order_items set price = price + :d where order_id = :o"), {"d": delta, "o": order_id}
        ).rowcount
    assert changed > 0


@pytest.mark.integration
@pytest.mark.both_runners
def test_a_backfill_repairs_its_range_only_keeps_the_watermarks_and_is_idempotent(backfill_env, capsys):
    # Arrange: a promoted full sync, and a week of purchases in the middle of the history.
    code, full = sync_json(capsys, "--mode", "full")
    assert code == 0, full
    wh_url = backfill_env["OLIST_WAREHOUSE_URL"]
    wh = sa.create_engine(wh_url)
    promoted = table_checksums(wh, "user_access_layer")
    control = control_rows(wh_url)
    days = purchase_days(backfill_env["OLIST_SOURCE_URL"])
    start = days[len(days) // 2]
    end = start + timedelta(days=6)
    expected = Slice(backfill_env["OLIST_SOURCE_URL"], start, end)
    assert 0 < expected.counts["orders"] < full["tables"]["orders"]["extracted"] // 4
    inside = sorted({i.order_id for i in expected.items})[0]
    outside = sorted({i.order_id for i in Slice(backfill_env["OLIST_SOURCE_URL"], end + timedelta(days=1), days[-1]).items})[0]
    true_inside, true_outside = item_price(wh, inside), item_price(wh, outside)
    tamper(wh, inside, TAMPER)
    tamper(wh, outside, TAMPER)

    # Act
    code, summary = backfill(capsys, start, end)

    # Assert: the slice travelled, the tampered order in range is repaired, the other is not.
    assert code == 0, summary
    assert summary["status"] == "promoted" and summary["mode"] == "backfill"
    assert summary["purchased"] == {"from": start.isoformat(), "to": end.isoformat()}
    assert {t: c["extracted"] for t, c in summary["tables"].items()} == expected.counts
    assert {t: c["loaded"] for t, c in summary["tables"].items()} == expected.counts
    assert summary["gates"] and all(g["success"] for g in summary["gates"]), summary["gates"]
    assert item_price(wh, inside) == true_inside
    assert item_price(wh, outside) == true_outside + TAMPER
    # Nothing else moved: undo the tamper outside the range and the star schema is as promoted.
    tamper(wh, outside, -TAMPER)
    assert_tables_unchanged(promoted, table_checksums(wh, "user_access_layer"))
    # The watermarks (values, promoting run and time) are the full sync's; the run is recorded.
    after = control_rows(wh_url)
    assert after["watermarks"] == control["watermarks"]
    assert after["runs"] == control["runs"] + [("backfill", "promoted")]

    # Act + assert: the same backfill again changes no row.
    code, again = backfill(capsys, start, end)
    assert code == 0, again
    assert again["tables"]["orders"]["extracted"] == expected.counts["orders"]
    assert_tables_unchanged(promoted, table_checksums(wh, "user_access_layer"))
    assert control_rows(wh_url)["watermarks"] == control["watermarks"]
    wh.dispose()


@pytest.mark.integration
@pytest.mark.both_runners
def test_a_backfill_into_an_empty_warehouse_promotes_just_its_slice(backfill_env, capsys):
    days = purchase_days(backfill_env["OLIST_SOURCE_URL"])
    start, end = days[0], days[0] + timedelta(days=60)
    expected = Slice(backfill_env["OLIST_SOURCE_URL"], start, end)
    assert expected.counts["order_items"] > 0

    code, summary = backfill(capsys, start, end)

    assert code == 0, summary
    assert summary["status"] == "promoted"
    assert summary["gates"] and all(g["success"] for g in summary["gates"]), summary["gates"]
    wh_url = backfill_env["OLIST_WAREHOUSE_URL"]
    wh = sa.create_engine(wh_url)
    assert {t: row_count(wh, f"user_access_layer.{fact}") for t, fact in FACT_OF.items()} == {t: expected.counts[t] for t in FACT_OF}
    with wh.connect() as conn:
        price = conn.execute(sa.text("select sum(price) from user_access_layer.fact_order_items")).scalar_one()
        paid = conn.execute(sa.text("select sum(payment_value) from user_access_layer.fact_payments")).scalar_one()
    assert (price, paid) == (expected.price, expected.payment_value)
    assert row_count(wh, "user_access_layer.geolocation_point") == 0
    # No watermark: the next incremental sync reads every table from the start.
    assert control_rows(wh_url) == {"watermarks": [], "runs": [("backfill", "promoted")]}
    wh.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "backfill", "--from", "2018-01-01"], "missing purchased_to"),
        (["--mode", "backfill", "--from", "2018-02-01", "--to", "2018-01-31"], "purchased_from 2018-02-01 is after purchased_to 2018-01-31"),
        (["--mode", "incremental", "--from", "2018-01-01"], "purchased_from apply to mode 'backfill' only"),
        (["--mode", "backfill", "--from", "2018-01-01", "--to", "31/01/2018"], "--to: expected a date YYYY-MM-DD, got '31/01/2018'"),
    ],
)
def test_the_command_line_refuses_a_bad_backfill_range(args, message, olist_home, monkeypatch, capsys):
    monkeypatch.setenv("OLIST_HOME", str(olist_home))
    # Refused before any flow run: nothing listens on port 1, so reaching the warehouse would fail differently.
    monkeypatch.setenv("OLIST_WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none")

    try:
        code = main(["sync", *args])
    except SystemExit as usage_error:  # argparse's own errors leave through parser.exit
        code = usage_error.code

    assert code == 1
    assert message in capsys.readouterr().err
