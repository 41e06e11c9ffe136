"""Promote a loaded run from the staging_layer delta tables into the star schema.

Every merge, the watermark updates and the run record execute in ONE transaction: either the
whole run reaches user_access_layer and etl_control, or nothing of it does.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timezone

import sqlalchemy as sa
from prefect import task
from prefect.cache_policies import NO_CACHE

from olist_etl.db import dialect_of, warehouse_engine
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render, statements
from olist_etl.tables import TABLE_NAMES, get_table
from tasks.validate import check_star_schema, run_logger

log = logging.getLogger(__name__)

# (step, file), in execution order; a step is named after its file (its target table, or
# fact_orders_totals for fact_orders' item columns). The translation lookup before the products
# that read it; customer_account before dim_customer and the facts that look customers up in it;
# dim_geolocation before geolocation_point (it needs the points as they were); all dimensions
# before the facts; fact_orders before fact_order_items and fact_payments (they take its purchase
# date and customer key); fact_orders_totals after fact_order_items (it sums the merged items).
MERGE_STEPS: tuple[tuple[str, str], ...] = (
    ("product_category_translation", "warehouse/merge/product_category_translation.sql"),
    ("dim_product", "warehouse/merge/dim_product.sql"),
    ("customer_account", "warehouse/merge/customer_account.sql"),
    ("dim_customer", "warehouse/merge/dim_customer.sql"),
    ("dim_seller", "warehouse/merge/dim_seller.sql"),
    ("dim_geolocation", "warehouse/merge/dim_geolocation.sql"),
    ("geolocation_point", "warehouse/merge/geolocation_point.sql"),
    ("dim_date", "warehouse/merge/dim_date.sql"),
    ("fact_orders", "warehouse/merge/fact_orders.sql"),
    ("fact_order_items", "warehouse/merge/fact_order_items.sql"),
    ("fact_orders_totals", "warehouse/merge/fact_orders_totals.sql"),
    ("fact_payments", "warehouse/merge/fact_payments.sql"),
    ("fact_reviews", "warehouse/merge/fact_reviews.sql"),
)
WATERMARKS_FILE = "warehouse/merge/watermarks.sql"
RUNS_FILE = "warehouse/merge/runs.sql"

_FIRST_WORD = re.compile(r"^\s*(\w+)")


class PromoteError(RuntimeError):
    """A run could not be promoted; nothing of it was written."""


def merge_sql(dialect: str) -> dict[str, str]:
    """Rendered SQL of every promote step by name (the merge steps, then watermarks and runs)."""
    rendered = {step: render(path, dialect) for step, path in MERGE_STEPS}
    rendered["watermarks"] = render(WATERMARKS_FILE, dialect)
    rendered["runs"] = render(RUNS_FILE, dialect)
    return rendered


def _first_keyword(statement: str) -> str:
    body = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
    match = _FIRST_WORD.match(body)
    return match.group(1).upper() if match else ""


def _execute_file(conn: sa.Connection, name: str, sql: str, params: dict | None = None) -> int:
    """Run a rendered file's statements; returns the rows the MERGE in it affected."""
    affected = 0
    for statement in statements(sql):
        try:
            result = conn.execute(sa.text(statement), params or {})
        except sa.exc.DBAPIError as err:
            raise PromoteError(f"promote step {name} failed: {err.orig}".strip()) from err
        if _first_keyword(statement) == "MERGE":
            affected = max(result.rowcount, 0)
    return affected


def _parse_timestamp(value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value))
    # The warehouse stores naive UTC timestamps (TIMESTAMP WITHOUT TIME ZONE).
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def _check_deltas_hold_run(conn: sa.Connection, dialect: str, manifest: dict) -> None:
    """Refuse to promote unless every delta table holds exactly this run's row count."""
    tables = manifest.get("tables") or {}
    missing = [name for name in TABLE_NAMES if name not in tables]
    if missing:
        raise PromoteError(f"run {manifest.get('run_id')!r}: the manifest lacks {', '.join(missing)}")
    for name in TABLE_NAMES:
        source = get_table(name)
        sql = render("warehouse/control/delta_row_count.sql", dialect, table=source.name)
        held = conn.execute(sa.text(statements(sql)[0])).scalar_one()
        expected = int(tables[name]["rows"])
        if held != expected:
            raise PromoteError(
                f"staging_layer.{name} holds {held} rows but run {manifest.get('run_id')!r} staged {expected}: "
                "load the run before promoting it"
            )


@task(name="promote", cache_policy=NO_CACHE)
def promote(settings: Settings, manifest: dict) -> dict[str, int]:
    """Merge the loaded run into the star schema and move the watermarks, atomically.

    No retries on purpose: a failure rolls everything back, and what failed (bad data, a missing
    table) will not fix itself; the flow decides whether to run again.
    Returns the rows inserted or updated per merge step (and "watermarks", "runs").
    """
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    dialect = dialect_of(settings.warehouse_url)
    rendered = merge_sql(dialect)
    run_id = str(manifest["run_id"])
    engine = warehouse_engine(settings)
    try:
        with engine.begin() as conn:
            _check_deltas_hold_run(conn, dialect, manifest)
            affected: dict[str, int] = {}
            for step, _path in MERGE_STEPS:
                started = time.perf_counter()
                affected[step] = _execute_file(conn, step, rendered[step])
                run_logger().info("promote %s: %d rows in %.2f s", step, affected[step], time.perf_counter() - started)
            # The post-merge suite sees the uncommitted merge; its GateFailed rolls everything back.
            started = time.perf_counter()
            check_star_schema(conn, settings, run_id)
            run_logger().info("promote post-merge suite: %.2f s", time.perf_counter() - started)

            promoted_at = datetime.now(timezone.utc).replace(tzinfo=None)
            moved = 0
            for name in TABLE_NAMES:
                high_watermark = _parse_timestamp(manifest["tables"][name].get("high_watermark"))
                if high_watermark is None:
                    continue
                moved += _execute_file(
                    conn,
                    f"watermarks ({name})",
                    rendered["watermarks"],
                    {"table_name": name, "high_watermark": high_watermark, "run_id": run_id, "promoted_at": promoted_at},
                )
            affected["watermarks"] = moved

            affected["runs"] = _execute_file(
                conn,
                "runs",
                rendered["runs"],
                {
                    "run_id": run_id,
                    "mode": manifest.get("mode"),
                    "status": "promoted",
                    "started_at": _parse_timestamp(manifest.get("created_at")),
                    "finished_at": promoted_at,
                    "rows_promoted": sum(v for k, v in affected.items() if k != "watermarks"),
                },
            )
        log.info("promoted run %s: %s", run_id, affected)
        return affected
    finally:
        engine.dispose()


@task(name="read-watermarks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_watermarks(settings: Settings) -> dict[str, datetime | None]:
    """The promoted high watermark of every source table; None when never promoted.

    A warehouse without the etl_control schema (never created) answers None for every table.
    """
    watermarks: dict[str, datetime | None] = {name: None for name in TABLE_NAMES}
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    dialect = dialect_of(settings.warehouse_url)
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("watermarks", schema="etl_control"):
                return watermarks
            sql = statements(render("warehouse/control/read_watermarks.sql", dialect))[0]
            for table_name, high_watermark in conn.execute(sa.text(sql)):
                if table_name in watermarks:
                    watermarks[table_name] = high_watermark
        return watermarks
    finally:
        engine.dispose()
