"""`olist-etl demo`: seed a small synthetic source, full sync, change the source, incremental sync,
then check the warehouse against the source and print a readable summary."""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

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
    from olist_etl.app.sync import EXIT_ERROR, EXIT_OK, format_summary, run_sync
    from olist_etl.source import create_source_schema, seed_synthetic, simulate_changes

    print("olist-etl demo")
    for key, value in settings.describe().items():
        print(f"  {key:<10} {value}")

    source = source_engine(settings)
    refusal = demo_source_refusal(settings, source)
    if refusal:
        print(f"olist-etl demo: {refusal}", file=sys.stderr)
        return EXIT_ERROR
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
    print(demo_closing(resolved))
    return EXIT_OK


def demo_closing(settings: Settings) -> str:
    """The demo's last lines: how to query the warehouse and, if embedded, that it is still running."""
    lines = ['Query the star schema: psql "$(.venv/bin/olist-etl warehouse url --libpq)"']
    if settings.embedded_warehouse:
        lines.append(
            f"The embedded warehouse (PostgreSQL under {settings.home / 'warehouse-pg'}) is left running for"
            " queries and the next sync; stop it with `.venv/bin/olist-etl warehouse stop`."
        )
    return "\n".join(lines)


def uses_own_sqlite(settings: Settings) -> bool:
    """True when the source is the demo's default file, $OLIST_HOME/source.sqlite (OLIST_SOURCE_URL unset)."""
    url = make_url(settings.source_url.reveal())
    if not url.drivername.startswith("sqlite") or not url.database:
        return False
    return Path(url.database).resolve() == (settings.home / "source.sqlite").resolve()


def demo_source_refusal(settings: Settings, source: sa.Engine) -> str | None:
    """Why the demo must not re-seed this source, or None.

    The demo replaces its own SQLite file on every run. Any other source (OLIST_SOURCE_URL set)
    is replaced only when empty or when it holds nothing but what seed-source wrote (the Olist
    tables and the seed marker): never a database with data seed-source did not put there.
    """
    from olist_etl.source.schema import existing_tables, name_some, read_seed_marker, tables_replaced

    if uses_own_sqlite(settings):
        return None
    found = existing_tables(source)
    if not found:
        return None
    _, kept = tables_replaced(found)
    if not kept and read_seed_marker(source) is not None:
        return None
    why = (f"holds {len(kept)} table(s) that olist-etl did not create: {name_some(kept)}" if kept
           else f"holds {len(found)} table(s) ({name_some(found)}) without the olist_etl_seeded marker")
    return (
        f"refused: the source {settings.source_url.masked} {why}; nothing was changed. Unset OLIST_SOURCE_URL to use the demo's own SQLite file,"
        " or point it at an empty database"
    )


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
