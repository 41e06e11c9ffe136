"""`olist-etl demo`: seed a small synthetic source, full sync, change the source, incremental sync,
then check the warehouse against the source and print a readable summary."""

from __future__ import annotations

import sqlalchemy as sa

from olist_etl.bi_report import write_report
from olist_etl.db import resolve_warehouse, source_engine, warehouse_engine
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render, statements
from olist_etl.tables import quote_ident

# Source table -> the fact that must hold exactly the same rows.
RECONCILED = {
    "orders": "fact_orders",
    "order_items": "fact_order_items",
    "order_payments": "fact_payments",
    "order_reviews": "fact_reviews",
}


def run_demo(settings: Settings, *, scale: float, seed: int) -> int:
    from olist_etl.cli import EXIT_ERROR, EXIT_OK, format_summary, run_sync
    from olist_etl.source import create_source_schema, seed_synthetic, simulate_changes

    print("olist-etl demo")
    for key, value in settings.describe().items():
        print(f"  {key:<10} {value}")

    source = source_engine(settings)
    print(f"\n1. seeding a synthetic source at scale {scale} (seed {seed})")
    create_source_schema(source, drop_existing=True)
    print(seed_synthetic(source, scale, seed).describe())

    resolved = resolve_warehouse(settings)
    if resolved.embedded_warehouse:
        reset_warehouse(resolved)

    for step, mode in ((2, "full"), (4, "incremental")):
        if mode == "incremental":
            print("\n3. simulating changes in the source")
            changes = simulate_changes(source, seed=seed + 1)
            print(changes.describe())
        print(f"\n{step}. {mode} sync")
        code, summary, error = run_sync(mode)
        if summary:
            print(format_summary(summary))
        if code != EXIT_OK:
            print(f"demo stopped: {error}")
            return code

    print("\n5. reconciliation: source rows vs warehouse facts")
    mismatches = reconcile(source, warehouse_engine(resolved))
    statuses_ok = statuses_match(source, warehouse_engine(resolved), changes.status_changed_order_ids)
    print(f"   order status changes visible in fact_orders: {'yes' if statuses_ok else 'NO'}"
          f" ({len(changes.status_changed_order_ids)} orders)")
    if mismatches or not statuses_ok:
        print("demo FAILED: the warehouse does not match the source")
        return EXIT_ERROR
    print("\n6. BI report from the analytics views")
    print(f"   {write_report(resolved)}")
    print(f"\ndemo OK. Data docs: {summary['data_docs']}")
    print("Query the star schema: `olist-etl warehouse url` prints the embedded warehouse's URL.")
    return EXIT_OK


def reset_warehouse(settings: Settings) -> None:
    with warehouse_engine(settings).begin() as conn:
        for statement in statements(render("warehouse/reset/drop_schemas.sql", "postgresql")):
            conn.execute(sa.text(statement))


def reconcile(source: sa.Engine, warehouse: sa.Engine) -> list[str]:
    """Print and return the tables whose row counts differ between source and warehouse."""
    mismatches = []
    with source.connect() as src, warehouse.connect() as wh:
        for table, fact in RECONCILED.items():
            in_source = src.execute(sa.text(f"select count(*) from {table}")).scalar_one()
            in_warehouse = wh.execute(sa.text(f"select count(*) from user_access_layer.{quote_ident(fact)}")).scalar_one()
            ok = in_source == in_warehouse
            print(f"   {table:<16}{in_source:>9}  {fact:<18}{in_warehouse:>9}  {'ok' if ok else 'MISMATCH'}")
            if not ok:
                mismatches.append(table)
    return mismatches


def statuses_match(source: sa.Engine, warehouse: sa.Engine, order_ids: list[str]) -> bool:
    if not order_ids:
        return True
    with source.connect() as src, warehouse.connect() as wh:
        query = sa.text("select order_id, order_status from orders where order_id in :ids").bindparams(sa.bindparam("ids", expanding=True))
        in_source = dict(src.execute(query, {"ids": order_ids}).all())
        query = sa.text("select order_id, order_status from user_access_layer.fact_orders where order_id in :ids").bindparams(
            sa.bindparam("ids", expanding=True)
        )
        in_warehouse = {k.strip(): v for k, v in wh.execute(query, {"ids": order_ids}).all()}
    return in_source == in_warehouse
