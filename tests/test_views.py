"""The analytics views: Redshift golden files and parsing, created by create_warehouse, and their
numbers against the fact tables (and the source) after a real sync from MariaDB into PostgreSQL.

Regenerate the golden files after an intended view change with:
    UPDATE_GOLDEN=1 /tmp/venv/bin/python -m pytest tests/test_views.py
and review the diff like any other change.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlglot
from sqlglot import exp

from olist_etl.bi_report import SECTIONS, VIEW_NAMES
from olist_etl.sqlfiles import render, statements
from olist_etl.load import create_warehouse, view_sql
from tests.support.pipeline import synced_warehouse

GOLDEN = Path(__file__).parent / "golden" / "views"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
NOT_REVENUE = ("canceled", "unavailable")

REDSHIFT = {Path(path).name: sql for path, sql in view_sql("redshift")}
POSTGRES = {Path(path).name: sql for path, sql in view_sql("postgresql")}


def report_queries(dialect: str) -> list[str]:
    """Every query `olist-etl report` sends, rendered for a dialect."""
    out = [render("warehouse/views/report/existing_views.sql", dialect), render("warehouse/views/report/last_run.sql", dialect)]
    for section in SECTIONS:
        out.append(
            render(
                "warehouse/views/report/read_view.sql", dialect,
                view=section.view, columns=[c.name for c in section.columns], order_by=section.order_by,
            )
        )
    return out


# --- Redshift SQL without a cluster ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REDSHIFT))
def test_redshift_view_matches_golden_file(name):
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(REDSHIFT[name], encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1"
    assert REDSHIFT[name] == path.read_text(encoding="utf-8"), f"{name} changed: review, then UPDATE_GOLDEN=1"


def test_no_stale_view_golden_files():
    assert {p.name for p in GOLDEN.glob("*.sql")} == set(REDSHIFT)


def test_one_view_per_file_and_every_report_view_exists():
    assert {name.removesuffix(".sql") for name in REDSHIFT} == set(VIEW_NAMES)


@pytest.mark.parametrize("dialect,read", [("redshift", "redshift"), ("postgresql", "postgres")])
@pytest.mark.parametrize("name", sorted(REDSHIFT))
def test_each_view_file_is_one_create_or_replace_view_that_parses(name, dialect, read):
    sql = (REDSHIFT if dialect == "redshift" else POSTGRES)[name]
    [statement] = statements(sql)

    [tree] = sqlglot.parse(statement, read=read)

    # exp.Command is sqlglot's "did not understand, kept as text" fallback: not a real parse.
    assert not list(tree.find_all(exp.Command)), statement[:200]
    assert isinstance(tree, exp.Create) and tree.args.get("kind") == "VIEW" and tree.args.get("replace")
    assert tree.this.sql() == f"user_access_layer.{name.removesuffix('.sql')}"
    # Only the star schema is read (no staging or control tables behind a BI view).
    assert {t.db for t in tree.expression.find_all(exp.Table) if t.db} == {"user_access_layer"}


@pytest.mark.parametrize("dialect,read", [("redshift", "redshift"), ("postgresql", "postgres")])
def test_report_queries_parse(dialect, read):
    for sql in report_queries(dialect):
        [statement] = statements(sql)
        [tree] = sqlglot.parse(statement, read=read)
        assert isinstance(tree, exp.Select) and not list(tree.find_all(exp.Command)), statement


# --- created by create_warehouse ------------------------------------------------------------------

def _views(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text("select table_name from information_schema.views where table_schema = 'user_access_layer'")
            ).scalars()
        )


@pytest.mark.integration
def test_create_warehouse_creates_the_views_and_recreates_them(warehouse):
    # Arrange: the fixture ran create_warehouse once.
    settings, engine, _ = warehouse
    assert _views(engine) == set(VIEW_NAMES)
    with engine.begin() as conn:
        conn.execute(sa.text("drop view user_access_layer.payment_mix"))

    # Act: a later sync runs create_warehouse again.
    create_warehouse(settings)

    # Assert: the dropped view is back and every view answers (empty) on the empty warehouse.
    assert _views(engine) == set(VIEW_NAMES)
    with engine.connect() as conn:
        for name in VIEW_NAMES:
            assert conn.execute(sa.text(f"select count(*) from user_access_layer.{name}")).scalar_one() == 0


def _view_state(engine: sa.Engine, name: str) -> tuple[int, int, list[str]]:
    """(oid, xmin of its rewrite rule, columns) of a view: CREATE OR REPLACE rewrites the rule
    (a new xmin, same oid); DROP + CREATE gives a new oid; an untouched view keeps both."""
    with engine.connect() as conn:
        oid, xmin = conn.execute(
            sa.text(
                "select c.oid::bigint, r.xmin::text::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                " join pg_rewrite r on r.ev_class = c.oid where n.nspname = 'user_access_layer' and c.relname = :name"
            ),
            {"name": name},
        ).one()
        columns = list(
            conn.execute(
                sa.text(
                    "select column_name from information_schema.columns where table_schema = 'user_access_layer'"
                    " and table_name = :name order by ordinal_position"
                ),
                {"name": name},
            ).scalars()
        )
    return oid, xmin, columns


def _release(views: list[tuple[str, str]], name: str, edit) -> list[tuple[str, str]]:
    """The views of a 'new release': `edit` applied to one view's SQL."""
    return [(path, edit(sql) if Path(path).name == f"{name}.sql" else sql) for path, sql in views]


@pytest.mark.integration
@pytest.mark.parametrize("rendering", ["postgresql", "redshift-on-postgresql"])
def test_views_are_replaced_only_when_their_definition_changes(warehouse, rendering):
    from olist_etl.warehouse.views import sync_views

    _, engine, _ = warehouse
    views = view_sql(rendering)
    before = {name: _view_state(engine, name) for name in VIEW_NAMES}

    # Act 1: the same release again (create_warehouse before every sync).
    with engine.begin() as conn:
        actions = {c.view: c.action for c in sync_views(conn, rendering, views)}

    # Assert: no view touched, not even by CREATE OR REPLACE.
    assert set(actions.values()) == {"unchanged"}, actions
    assert {name: _view_state(engine, name) for name in VIEW_NAMES} == before

    # Act 2: a release whose payment_mix gains a first column (the column set changes: Redshift
    # and PostgreSQL both refuse CREATE OR REPLACE) and whose revenue_by_state changes its text only.
    added = _release(views, "payment_mix", lambda sql: sql.replace(
        "CREATE OR REPLACE VIEW user_access_layer.payment_mix AS\n", "CREATE OR REPLACE VIEW user_access_layer.payment_mix AS\nSELECT 'v2' AS release, v.* FROM (\n", 1
    ).rstrip().rstrip(";") + "\n) AS v;\n")
    edited = _release(added, "revenue_by_state", lambda sql: sql.replace("CREATE OR REPLACE VIEW", "-- edited in v2\nCREATE OR REPLACE VIEW", 1))
    with engine.begin() as conn:
        actions = {c.view: c.action for c in sync_views(conn, rendering, edited)}

    # Assert: payment_mix dropped and created with the new column, revenue_by_state replaced in place,
    # the others untouched.
    assert actions["payment_mix"] == "recreated" and actions["revenue_by_state"] == "replaced", actions
    oid, _, columns = _view_state(engine, "payment_mix")
    assert oid != before["payment_mix"][0] and columns == ["release"] + before["payment_mix"][2]
    oid, xmin, columns = _view_state(engine, "revenue_by_state")
    assert oid == before["revenue_by_state"][0] and xmin != before["revenue_by_state"][1] and columns == before["revenue_by_state"][2]
    for name in set(VIEW_NAMES) - {"payment_mix", "revenue_by_state"}:
        assert actions[name] == "unchanged" and _view_state(engine, name) == before[name], name


@pytest.mark.integration
def test_a_view_missing_from_the_warehouse_is_created_even_when_recorded(warehouse):
    from olist_etl.warehouse.views import sync_views

    _, engine, _ = warehouse
    with engine.begin() as conn:
        conn.execute(sa.text("drop view user_access_layer.payment_mix"))
        actions = {c.view: c.action for c in sync_views(conn, "postgresql", view_sql("postgresql"))}
    assert actions["payment_mix"] == "created" and _view_state(engine, "payment_mix")[2]


def test_a_view_file_without_its_create_statement_is_refused():
    from olist_etl.warehouse.views import _parse

    with pytest.raises(ValueError, match="bad.sql: expected exactly one 'CREATE OR REPLACE VIEW"):
        _parse("bad.sql", "SELECT 1;")


# --- the numbers, after a real sync ---------------------------------------------------------------

@pytest.fixture(scope="module")
def synced(prefect_api, tmp_path_factory):
    with synced_warehouse(tmp_path_factory.mktemp("olist-home")) as result:
        yield result


def view_rows(engine: sa.Engine, view: str, key: tuple[str, ...]) -> dict[tuple, dict]:
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(f"select * from user_access_layer.{view}")).mappings()]
    out = {tuple(r[k] for k in key): {c: v for c, v in r.items() if c not in key} for r in rows}
    assert len(out) == len(rows), f"{view}: more than one row per {key}"
    return out


def fetch(engine: sa.Engine, sql: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).all()


def ratio(numerator, denominator, places: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


class Facts:
    """The fact and dimension rows, read plainly; every expected number is computed from these in Python."""

    def __init__(self, engine: sa.Engine):
        uai = "user_access_layer"
        self.items = fetch(engine, f"select order_id, purchase_date_key, customer_key, product_key, price, freight_value from {uai}.fact_order_items")
        self.orders = {
            r.order_id: r
            for r in fetch(
                engine,
                f"select order_id, order_status, purchase_date_key, order_delivered_customer_date, is_delivered_late, days_to_deliver from {uai}.fact_orders",
            )
        }
        self.months = {r.date_key: (r.year_number, r.month_number) for r in fetch(engine, f"select date_key, year_number, month_number from {uai}.dim_date")}
        self.states = dict(fetch(engine, f"select customer_key, customer_state from {uai}.dim_customer"))
        self.categories = dict(fetch(engine, f"select product_key, product_category_name_english from {uai}.dim_product"))
        self.payments = fetch(engine, f"select order_id, payment_type, payment_value from {uai}.fact_payments")
        self.reviews = fetch(engine, f"select review_id, order_id, review_score from {uai}.fact_reviews")

    def counts_as_revenue(self, order_id: str) -> bool:
        order = self.orders.get(order_id)
        return order is None or order.order_status not in NOT_REVENUE

    def revenue_items(self):
        return [i for i in self.items if self.counts_as_revenue(i.order_id)]


def revenue_groups(items, group) -> dict[tuple, dict]:
    acc: dict[tuple, dict] = defaultdict(lambda: {"orders": set(), "items": 0, "revenue": Decimal(0), "freight": Decimal(0)})
    for item in items:
        g = acc[group(item)]
        g["orders"].add(item.order_id)
        g["items"] += 1
        g["revenue"] += item.price
        g["freight"] += item.freight_value
    return {
        key: {"orders": len(g["orders"]), "items": g["items"], "revenue": g["revenue"], "freight": g["freight"],
              "average_order_value": ratio(g["revenue"], len(g["orders"]), 2)}
        for key, g in acc.items()
    }


@pytest.mark.integration
def test_monthly_revenue_matches_the_fact_table_and_leaves_canceled_orders_out(synced):
    source, warehouse, _, canceled = synced
    facts = Facts(warehouse)

    actual = view_rows(warehouse, "monthly_revenue", ("purchase_year", "purchase_month"))

    expected = revenue_groups(facts.revenue_items(), lambda i: facts.months.get(i.purchase_date_key, (None, None)))
    assert actual == expected
    # The brief's check in one line: the view's total is SUM(price) of the fact, less canceled and unavailable orders.
    excluded = sum(i.price for i in facts.items if not facts.counts_as_revenue(i.order_id))
    assert sum(r["revenue"] for r in actual.values()) == sum(i.price for i in facts.items) - excluded
    # The rule was exercised: the order canceled before the incremental sync had items, now left out.
    assert facts.orders[canceled].order_status == "canceled"
    assert excluded >= sum(i.price for i in facts.items if i.order_id == canceled) > 0


@pytest.mark.integration
def test_monthly_revenue_and_payment_mix_match_the_source_to_the_cent(synced):
    source, warehouse, _, _ = synced
    source_months = fetch(
        source,
        """select year(o.order_purchase_timestamp), month(o.order_purchase_timestamp),
                  count(distinct i.order_id), count(*), sum(i.price), sum(i.freight_value)
           from order_items i join orders o on o.order_id = i.order_id
           where o.order_status not in ('canceled', 'unavailable') group by 1, 2""",
    )
    source_payments = fetch(
        source,
        """select p.payment_type, count(*), sum(p.payment_value) from order_payments p
           join orders o on o.order_id = p.order_id
           where o.order_status not in ('canceled', 'unavailable') group by 1""",
    )

    months = view_rows(warehouse, "monthly_revenue", ("purchase_year", "purchase_month"))
    payments = view_rows(warehouse, "payment_mix", ("payment_type",))

    assert {k: (v["orders"], v["items"], v["revenue"], v["freight"]) for k, v in months.items()} == {
        (y, m): (orders, items, revenue, freight) for y, m, orders, items, revenue, freight in source_months
    }
    assert {k[0]: (v["payments"], v["payment_value"]) for k, v in payments.items()} == {
        t: (n, value) for t, n, value in source_payments
    }


@pytest.mark.integration
def test_revenue_by_state_uses_the_customer_version_of_the_purchase(synced):
    _, warehouse, _, _ = synced
    facts = Facts(warehouse)

    actual = view_rows(warehouse, "revenue_by_state", ("customer_state",))

    assert actual == revenue_groups(facts.revenue_items(), lambda i: (facts.states.get(i.customer_key) or "unknown",))
    assert len(actual) > 5


@pytest.mark.integration
def test_revenue_by_category_matches_the_fact_table(synced):
    _, warehouse, _, _ = synced
    facts = Facts(warehouse)

    actual = view_rows(warehouse, "revenue_by_category", ("product_category",))

    expected = revenue_groups(facts.revenue_items(), lambda i: (facts.categories.get(i.product_key) or "unknown",))
    for group in expected.values():
        del group["average_order_value"]
    assert actual == expected
    assert len(actual) > 10


@pytest.mark.integration
def test_delivery_performance_matches_the_fact_table(synced):
    _, warehouse, _, _ = synced
    facts = Facts(warehouse)

    actual = view_rows(warehouse, "delivery_performance", ("purchase_year", "purchase_month"))

    by_month = defaultdict(list)
    for order in facts.orders.values():
        if order.order_delivered_customer_date is not None:
            by_month[facts.months.get(order.purchase_date_key, (None, None))].append(order)
    expected = {}
    for month, orders in by_month.items():
        late = sum(1 for o in orders if o.is_delivered_late)
        days = [o.days_to_deliver for o in orders if o.days_to_deliver is not None]
        expected[month] = {
            "delivered_orders": len(orders),
            "late_orders": late,
            "late_share": ratio(late, len(orders), 4),
            "average_days_to_deliver": ratio(sum(days), len(days), 2),
            "median_days_to_deliver": Decimal(str(statistics.median(days))).quantize(Decimal("0.01")) if days else None,
        }
    assert actual == expected
    assert sum(r["late_orders"] for r in actual.values()) > 0  # lateness was exercised


@pytest.mark.integration
def test_review_score_by_category_counts_a_review_once_per_category_of_its_order(synced):
    _, warehouse, _, _ = synced
    facts = Facts(warehouse)

    actual = view_rows(warehouse, "review_score_by_category", ("product_category",))

    categories_of = defaultdict(set)
    for item in facts.items:
        categories_of[item.order_id].add(facts.categories.get(item.product_key) or "unknown")
    scores = defaultdict(list)
    for review in facts.reviews:
        for category in categories_of.get(review.order_id, ()):
            scores[category].append(review.review_score)
    expected = {
        (category,): {
            "reviews": len(values),
            "average_review_score": ratio(sum(v for v in values if v is not None), sum(1 for v in values if v is not None), 2),
        }
        for category, values in scores.items()
    }
    assert actual == expected
    assert any(len(c) > 1 for c in categories_of.values())  # multi-category orders were exercised


@pytest.mark.integration
def test_payment_mix_shares_add_up_and_match_the_fact_table(synced):
    _, warehouse, _, _ = synced
    facts = Facts(warehouse)

    actual = view_rows(warehouse, "payment_mix", ("payment_type",))

    acc = defaultdict(lambda: [0, Decimal(0)])
    for payment in facts.payments:
        if facts.counts_as_revenue(payment.order_id):
            acc[payment.payment_type or "unknown"][0] += 1
            acc[payment.payment_type or "unknown"][1] += payment.payment_value
    total = sum(v for _, v in acc.values())
    assert actual == {
        (t,): {"payments": n, "payment_value": v, "share_of_value": ratio(v, total, 4)} for t, (n, v) in acc.items()
    }
    assert abs(sum(r["share_of_value"] for r in actual.values()) - 1) <= Decimal("0.0001") * len(actual)
