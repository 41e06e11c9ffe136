"""Promote a loaded run from the staging_layer delta tables into the star schema.

Every merge, the watermark updates and the run record execute in ONE transaction: either the
whole run reaches user_access_layer and etl_control, or nothing of it does.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from olist_etl.db import dialect_of, warehouse_engine
from olist_etl.deleted_keys import read_deleted_keys
from olist_etl.runs import RunClock, run_params
from olist_etl.manifest import RunManifest
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render, statements
from olist_etl.staging import open_staging
from olist_etl.tables import TABLE_NAMES, get_table, quote_ident
from olist_etl.gates.post_merge import check_star_schema
from olist_etl.gates.results import run_logger
from olist_etl.locking import retry_serialization
from olist_etl.warehouse.keys import DuplicateKey, check_keys
from olist_etl.warehouse.rendering import sql_dialect

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
# Deletes: (source table, the star-schema table that mirrors it, its type-2 natural key or None).
# mark_deleted.sql marks the stored rows whose key is gone from the source before the merges run;
# mark_deleted_derived.sql then closes the people and zips left without a live source row.
DELETE_TARGETS: tuple[tuple[str, str, str | None], ...] = (
    ("product_category_name_translation", "product_category_translation", None),
    ("products", "dim_product", "product_id"),
    ("customers", "customer_account", None),
    ("sellers", "dim_seller", "seller_id"),
    ("geolocation", "geolocation_point", None),
    ("orders", "fact_orders", None),
    ("order_items", "fact_order_items", None),
    ("order_payments", "fact_payments", None),
    ("order_reviews", "fact_reviews", None),
)
# The fast path: a step whose listed tables were all empty when the promote started (the first
# full sync into a fresh warehouse) is rendered with `empty` (merge/write.jinja): a plain INSERT of
# the same rows, without comparing them to stored ones. dim_date has none (7,670 constant rows).
# With no item stored either, fact_orders' insert sums the run's items itself and
# fact_orders_totals has nothing left to do: its UPDATE would rewrite every order just inserted.
FAST_PATH: dict[str, tuple[str, ...]] = {
    "product_category_translation": ("product_category_translation",),
    "dim_product": ("dim_product",),
    "customer_account": ("customer_account",),
    "dim_customer": ("dim_customer",),
    "dim_seller": ("dim_seller",),
    "dim_geolocation": ("dim_geolocation", "geolocation_point"),
    "geolocation_point": ("geolocation_point",),
    "fact_orders": ("fact_orders", "fact_order_items"),
    "fact_order_items": ("fact_order_items",),
    "fact_orders_totals": ("fact_orders", "fact_order_items"),
    "fact_payments": ("fact_payments",),
    "fact_reviews": ("fact_reviews",),
}
# Every star-schema table a step writes, with the key of its unknown member (dimensions), which
# does not make a table non-empty.
STAR_TABLES: tuple[tuple[str, str | None], ...] = (
    ("product_category_translation", None),
    ("dim_product", "product_key"),
    ("customer_account", None),
    ("dim_customer", "customer_key"),
    ("dim_seller", "seller_key"),
    ("dim_geolocation", None),
    ("geolocation_point", None),
    ("dim_date", None),
    ("fact_orders", None),
    ("fact_order_items", None),
    ("fact_payments", None),
    ("fact_reviews", None),
)
EMPTY_TARGETS_FILE = "warehouse/merge/empty_targets.sql"
ANALYZE_FILE = "warehouse/merge/analyze.sql"
DELETE_SCOPES = ("all", "listed", "purchase_range", "none")
# A backfill re-stages whole orders: the facts of those orders can be checked for deletes.
PURCHASE_RANGE_TABLES = ("orders", "order_items", "order_payments", "order_reviews")
MARK_DELETED_FILE = "warehouse/merge/mark_deleted.sql"
MARK_DELETED_DERIVED_FILE = "warehouse/merge/mark_deleted_derived.sql"
DELETED_KEYS_CHUNK = 5_000
WATERMARKS_FILE = "warehouse/merge/watermarks.sql"
RUNS_FILE = "warehouse/merge/runs.sql"

_FIRST_WORD = re.compile(r"^\s*(\w+)")
# A MERGE whose source is a table (the Redshift SQL): its rows are counted from that table.
_MERGE_SOURCE_TABLE = re.compile(r"\bUSING\s+(merge_source_\w+)\s+AS\s+src\b")
LOCK_FILE = "warehouse/control/lock_sync.sql"
LOADED_RUNS_FILE = "warehouse/control/loaded_runs.sql"
COUNT_SOURCE_FILE = "warehouse/merge/count_source.sql"


class PromoteError(RuntimeError):
    """A run could not be promoted; nothing of it was written."""


# Where a step reads the rows this run marked deleted: rendered with the tables it marked in.
MARKED_STEPS = ("dim_geolocation", "mark_deleted_derived")
ALL_MARKED = frozenset(target for _source, target, _key in DELETE_TARGETS)


def merge_sql(dialect: str, marked: frozenset[str] = ALL_MARKED) -> dict[str, str]:
    """Rendered SQL of every promote step by name (the merge steps, then watermarks and runs);
    `marked`, the star-schema tables in which the run marked deleted rows."""
    rendered = {step: render(path, dialect, empty=False, marked=marked) for step, path in MERGE_STEPS}
    rendered["mark_deleted_derived"] = render(MARK_DELETED_DERIVED_FILE, dialect, marked=marked)
    rendered["watermarks"] = render(WATERMARKS_FILE, dialect)
    rendered["runs"] = render(RUNS_FILE, dialect)
    return rendered


def fast_path_sql(dialect: str) -> dict[str, str]:
    """Rendered SQL of every merge step that has a fast path, for an empty target (FAST_PATH)."""
    paths = dict(MERGE_STEPS)
    return {step: render(paths[step], dialect, empty=True, marked=frozenset()) for step in FAST_PATH}


def _empty_targets(conn: sa.Connection, dialect: str) -> frozenset[str]:
    """The star-schema tables without a row (an unknown member aside), read once at the start."""
    sql = statements(render(EMPTY_TARGETS_FILE, dialect, targets=STAR_TABLES))[0]
    try:
        rows = conn.execute(sa.text(sql)).all()
    except sa.exc.DBAPIError as err:
        raise PromoteError(f"promote could not read the star schema's tables: {err.orig}".strip()) from err
    return frozenset(name for name, stored in rows if int(stored) == 0)


def _first_keyword(statement: str) -> str:
    body = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
    match = _FIRST_WORD.match(body)
    return match.group(1).upper() if match else ""


def _execute_file(conn: sa.Connection, name: str, sql: str, params: dict | None = None, count_rows: bool = False) -> int:
    """Run a rendered file's statements; returns the rows the MERGE in it affected (with
    `count_rows`, the rows every statement affected).

    A MERGE from a source table (the Redshift SQL) is counted from that table before it runs:
    redshift_connector reports no row count for MERGE. PostgreSQL's own count is used otherwise.
    """
    affected = 0
    for statement in statements(sql):
        source = _MERGE_SOURCE_TABLE.search(statement) if _first_keyword(statement) == "MERGE" else None
        try:
            if source is not None:
                count_sql = statements(render(COUNT_SOURCE_FILE, "redshift", source_table=source.group(1)))[0]
                source_rows = int(conn.execute(sa.text(count_sql)).scalar_one())
            result = conn.execute(sa.text(statement), params or {})
        except sa.exc.DBAPIError as err:
            raise PromoteError(f"promote step {name} failed: {err.orig}".strip()) from err
        if count_rows:
            affected += max(result.rowcount, 0)
        elif source is not None:
            affected = source_rows
        elif _first_keyword(statement) == "MERGE":
            affected = max(result.rowcount, 0)
    return affected


def delete_scope(manifest: RunManifest, table: str) -> str:
    """How the run finds the deleted keys of a table (mark_deleted.sql): from the manifest, or by mode.

    A full sync staged every row, so every stored key missing from the delta is gone; a backfill
    re-staged whole orders; an incremental or diff sync lists the keys its source comparison found
    gone (`deletes` in the manifest entry), and without a list checks nothing.
    """
    entry = manifest.tables.get(table)
    deletes = (entry.deletes if entry is not None else None) or {}
    scope = deletes.get("scope")
    if scope is None:
        mode = manifest.mode
        if mode == "full":
            scope = "all"
        elif mode == "backfill":
            scope = "purchase_range" if table in PURCHASE_RANGE_TABLES else "none"
        else:
            scope = "none"
    if scope not in DELETE_SCOPES:
        raise PromoteError(f"run {manifest.run_id!r}: unknown delete scope {scope!r} for {table}")
    if scope == "purchase_range" and table not in PURCHASE_RANGE_TABLES:
        raise PromoteError(f"{table} is not sliced by purchase date: a backfill cannot find its deletes")
    return scope


def mark_deleted_sql(dialect: str, source: str, target: str, natural_key: str | None, scope: str) -> str:
    return render(
        MARK_DELETED_FILE, dialect,
        target=target, source=source, keys=list(get_table(source).primary_key), natural_key=natural_key, scope=scope,
    )


def _fill_deleted_keys(conn: sa.Connection, dialect: str, settings: Settings, manifest: RunManifest, table: str) -> int:
    """Replace staging_layer.deleted_<table> by the keys the run's comparison found gone.

    The keys stream from the staged gzip CSV in chunks, so memory holds one chunk.
    """
    source = get_table(table)
    target = f"staging_layer.{quote_ident('deleted_' + table)}"
    conn.execute(sa.text(f"DELETE FROM {target}"))
    deletes = manifest.tables[table].deletes or {}
    if not deletes.get("key"):
        return 0
    columns = ", ".join(quote_ident(k) for k in source.primary_key)
    binds = ", ".join(f":k{i}" for i in range(len(source.primary_key)))
    insert = sa.text(f"INSERT INTO {target} ({columns}) VALUES ({binds})")
    filled = 0
    for chunk in read_deleted_keys(open_staging(settings.staging_url), deletes["key"], source, DELETED_KEYS_CHUNK):
        conn.execute(insert, [{f"k{i}": value for i, value in enumerate(key)} for key in chunk])
        filled += len(chunk)
    if filled != int(deletes.get("rows", filled)):
        raise PromoteError(f"{table}: the deleted-keys file holds {filled} keys, the manifest says {deletes.get('rows')}")
    return filled


def _mark_deleted(
    conn: sa.Connection, dialect: str, settings: Settings, manifest: RunManifest, params: dict, empty: frozenset[str] = frozenset()
) -> dict[str, int]:
    """Mark the stored rows whose key is gone from the source; returns rows marked per target
    (an `empty` target has none to mark)."""
    marked: dict[str, int] = {}
    window = manifest.purchased or {}
    for source, target, natural_key in DELETE_TARGETS:
        scope = delete_scope(manifest, source)
        if scope == "none" or target in empty:
            continue
        if scope == "listed" and _fill_deleted_keys(conn, dialect, settings, manifest, source) == 0:
            continue
        step_params = dict(params)
        if scope == "purchase_range":
            purchased_to = datetime.fromisoformat(window["to"])
            step_params |= {
                "purchased_from": datetime.fromisoformat(window["from"]),
                "purchased_before": purchased_to + timedelta(days=1),
            }
        sql = mark_deleted_sql(dialect, source, target, natural_key, scope)
        marked[target] = _execute_file(conn, f"mark deleted ({target})", sql, step_params, count_rows=True)
    return marked


def _analyze_filled(conn: sa.Connection, dialect: str, affected: dict[str, int], empty: frozenset[str]) -> list[str]:
    """ANALYZE the star-schema tables the promote filled from empty (analyze.sql says why).

    A table that held rows keeps statistics that a run's share of changes hardly moves, and
    autovacuum (PostgreSQL) or automatic analyze (Redshift) refreshes them after the commit;
    sampling it on every incremental would cost more than most merges (0.9 s at scale 1).
    """
    analyzed = [table for table, _key in STAR_TABLES if table in empty and affected.get(table, 0) > 0]
    for table in analyzed:
        _execute_file(conn, f"analyze {table}", render(ANALYZE_FILE, dialect, table=table), count_rows=True)
    return analyzed


def _parse_timestamp(value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value))
    # The warehouse stores naive UTC timestamps (TIMESTAMP WITHOUT TIME ZONE).
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def _check_deltas_hold_run(conn: sa.Connection, dialect: str, manifest: RunManifest) -> None:
    """Refuse to promote unless every delta table holds this run's rows, by the run id each load
    recorded in etl_control.loads (control/record_load.sql): another sync's load that landed
    between this run's load and its promote is caught even when the row counts agree."""
    tables = manifest.tables
    missing = [name for name in TABLE_NAMES if name not in tables]
    if missing:
        raise PromoteError(f"run {manifest.run_id!r}: the manifest lacks {', '.join(missing)}")
    loaded = dict(conn.execute(sa.text(statements(render(LOADED_RUNS_FILE, dialect))[0])).all())
    for name in TABLE_NAMES:
        holder = loaded.get(name)
        if holder != manifest.run_id:
            held = f"run {holder!r}'s rows" if holder else "no run's rows"
            raise PromoteError(
                f"staging_layer.{name} holds {held}, not run {manifest.run_id!r}'s: load the run before promoting it "
                "(another sync may have loaded in between); nothing was promoted"
            )


def promote(settings: Settings, manifest: RunManifest, clock: RunClock | None = None, *, fast_path: bool = True) -> dict[str, int]:
    """Merge the loaded run into the star schema and move the watermarks, atomically.

    No retries on purpose: a failure rolls everything back, and what failed (bad data, a missing
    table) will not fix itself; the flow decides whether to run again.
    Returns the rows inserted or updated per merge step (and "watermarks", "runs").
    `fast_path=False` merges into empty targets too (the tests compare both ways).
    """
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    dialect = sql_dialect(settings)
    engine = warehouse_engine(settings)
    try:
        # A serialization conflict (Redshift 1023, PostgreSQL 40001) rolled the transaction back:
        # it is run again from the start; any other failure is final.
        return retry_serialization(lambda: _promote_once(engine, settings, dialect, manifest, clock, fast_path), f"promote run {manifest.run_id}")
    finally:
        engine.dispose()


def _promote_once(
    engine: sa.Engine, settings: Settings, dialect: str, manifest: RunManifest, clock: RunClock | None, fast_path: bool
) -> dict[str, int]:
    rendered = merge_sql(dialect)
    fast = fast_path_sql(dialect)
    run_id = manifest.run_id
    with engine.begin() as conn:
        # First, so no other sync's load, promote or DDL interleaves with this one (on
        # PostgreSQL the advisory lock already serialises syncs; the LOCK costs nothing there).
        conn.exec_driver_sql(statements(render(LOCK_FILE, dialect))[0])
        _check_deltas_hold_run(conn, dialect, manifest)
        # The run's time marks what it finds deleted; the merges read it to recompute what
        # the marked rows fed (an order's totals, a zip's averages, a category's products).
        run_time = {"deleted_at": datetime.now(timezone.utc).replace(tzinfo=None)}
        # Read once, before anything is written: a step's fast path needs its tables as they were.
        empty = _empty_targets(conn, dialect) if fast_path else frozenset()
        started = time.perf_counter()
        marked = _mark_deleted(conn, dialect, settings, manifest, run_time, empty)
        run_logger().info("promote mark deleted: %s in %.2f s", marked or "nothing", time.perf_counter() - started)
        affected: dict[str, int] = {f"deleted {target}": rows for target, rows in marked.items()}
        marked_in = frozenset(target for target, rows in marked.items() if rows > 0)
        if marked_in != ALL_MARKED:
            rendered |= {step: sql for step, sql in merge_sql(dialect, marked_in).items() if step in MARKED_STEPS}
        for step, _path in MERGE_STEPS:
            started = time.perf_counter()
            if step in FAST_PATH and empty.issuperset(FAST_PATH[step]):
                affected[step] = _execute_file(conn, step, fast[step], run_time, count_rows=True)
                path = " (into empty)"
            else:
                affected[step] = _execute_file(conn, step, rendered[step], run_time)
                path = ""
            run_logger().info("promote %s%s: %d rows in %.2f s", step, path, affected[step], time.perf_counter() - started)
        derived = _execute_file(conn, "mark deleted (derived)", rendered["mark_deleted_derived"], run_time, count_rows=True)
        if derived:
            affected["deleted derived"] = derived
        started = time.perf_counter()
        analyzed = _analyze_filled(conn, dialect, affected, empty)
        run_logger().info("promote analyze %s: %.2f s", ", ".join(analyzed) or "nothing", time.perf_counter() - started)
        # Every dim and fact key the run touched is unique (Redshift does not enforce keys).
        started = time.perf_counter()
        try:
            check_keys(conn, dialect)
        except DuplicateKey as err:
            raise PromoteError(str(err)) from err
        run_logger().info("promote key checks: %.2f s", time.perf_counter() - started)
        # The post-merge suite sees the uncommitted merge; its GateFailed rolls everything back.
        started = time.perf_counter()
        check_star_schema(conn, settings, run_id)
        run_logger().info("promote post-merge suite: %.2f s", time.perf_counter() - started)

        promoted_at = datetime.now(timezone.utc).replace(tzinfo=None)
        moved = 0
        for name in TABLE_NAMES:
            high_watermark = _parse_timestamp(manifest.tables[name].high_watermark)
            if high_watermark is None:
                continue
            moved += _execute_file(
                conn,
                f"watermarks ({name})",
                rendered["watermarks"],
                {"table_name": name, "high_watermark": high_watermark, "run_id": run_id, "promoted_at": promoted_at},
            )
        affected["watermarks"] = moved

        # The flow's clock gives the run's start and phase times (the merge's so far); a
        # promote called alone (tests, tools) records the manifest's creation as the start.
        affected["runs"] = _execute_file(
            conn,
            "runs",
            rendered["runs"],
            run_params(
                run_id, manifest.mode, "promoted",
                clock.started_at if clock is not None else _parse_timestamp(manifest.created_at),
                promoted_at,
                rows_promoted=sum(v for k, v in affected.items() if k != "watermarks"),
                rows_extracted=manifest.rows_extracted,
                phase_seconds=clock.seconds() if clock is not None else None,
                critical_failures=0,
            ),
        )
    log.info("promoted run %s: %s", run_id, affected)
    return affected


def has_promoted_run(settings: Settings) -> bool:
    """Whether any run was promoted into this warehouse: only then is there anything to compare
    the source with (a first sync reads every table whole)."""
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("runs", schema="etl_control"):
                return False
            sql = statements(render("warehouse/control/has_promoted_run.sql", dialect_of(settings.warehouse_url)))[0]
            return conn.execute(sa.text(sql)).scalar() is not None
    finally:
        engine.dispose()


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
