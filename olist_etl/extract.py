"""Extract: stream one source table's rows into staged CSV parts.

Incremental extracts read rows with `updated_at` in (watermark - lookback, high_watermark], where
high_watermark is the table's MAX(updated_at) read first: rows committed during the extract wait
for the next run instead of being half-seen, and the lookback catches rows whose transaction
committed late with an older timestamp. The overlap is deduplicated by key at merge.

A backfill re-extracts the orders purchased in an inclusive date range and the rows that hang off
them (sql/source/extract/purchase_range.sql). It records no high watermark, so promoting it never
moves the watermarks the incremental syncs read.

On MySQL/MariaDB the window (or whole-table) read goes through olist_etl/arrow_extract.py: native,
into Arrow batches and Arrow's CSV writer (OLIST_EXTRACT_READER=python keeps PyMySQL). The reads by
key and a backfill's purchase range stay on PyMySQL: they are small, and bind their parameters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from olist_etl import arrow_extract
from olist_etl.db import dialect_of, extract_engine
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render
from olist_etl.deleted_keys import write_deleted_keys
from olist_etl.staging import open_staging
from olist_etl.tables import UPDATED_AT, get_table
from olist_etl.progress import Progress
from olist_etl.manifest import TableExtract
from olist_etl.stage import PartWriter

FETCH_ROWS = 10_000
# Differences the source comparison may hand to one table's extract. Past it the table is re-read
# whole and its deletes found by anti-join with the delta: cheaper than that many key reads, and
# it bounds the memory the keys take (about 100 bytes a key).
COMPARE_MAX_KEYS = 50_000
KEY_FETCH_CHUNK = 500
MODES = ("full", "incremental", "diff", "backfill")
WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# The tables a backfill slices, each by its link to the orders purchased in the range. The others
# (geolocation, the category translations) do not hang off orders: a backfill stages none of them.
BACKFILL_TABLES = ("customers", "orders", "order_items", "order_payments", "order_reviews", "products", "sellers")


@dataclass(frozen=True)
class PurchaseWindow:
    """A backfill's purchase dates, both ends inclusive."""

    purchased_from: date
    purchased_to: date

    def params(self) -> dict[str, str]:
        # The exclusive upper bound is the next day's midnight: every time of the last day is in.
        return {
            "purchased_from": self.purchased_from.isoformat(),
            "purchased_before": (self.purchased_to + timedelta(days=1)).isoformat(),
        }

    def as_dict(self) -> dict[str, str]:
        return {"from": self.purchased_from.isoformat(), "to": self.purchased_to.isoformat()}


def _as_date(name: str, value: date | str) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"{name} must be a date (YYYY-MM-DD) without a time, got {value.isoformat()!r}")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def purchase_window(mode: str, purchased_from: date | str | None, purchased_to: date | str | None) -> PurchaseWindow | None:
    """Check a sync's mode and dates together; the window of a backfill, None for the other modes."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    given = {name: value for name, value in (("purchased_from", purchased_from), ("purchased_to", purchased_to)) if value is not None}
    if mode != "backfill":
        if given:
            raise ValueError(f"{' and '.join(given)} apply to mode 'backfill' only, not to mode {mode!r}")
        return None
    missing = [name for name in ("purchased_from", "purchased_to") if name not in given]
    if missing:
        raise ValueError(
            f"a backfill needs both purchased_from and purchased_to (inclusive dates YYYY-MM-DD); missing {' and '.join(missing)}"
        )
    start, end = _as_date("purchased_from", purchased_from), _as_date("purchased_to", purchased_to)
    if start > end:
        raise ValueError(f"purchased_from {start} is after purchased_to {end}: the range is empty")
    return PurchaseWindow(start, end)


def format_watermark(value: datetime | str | None) -> str | None:
    """Source timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLite keeps them as text already)."""
    if value is None or isinstance(value, str):
        return value
    return value.strftime(WATERMARK_FORMAT)


def extract_since(mode: str, watermark: datetime | None, lookback: timedelta) -> str | None:
    """The exclusive lower bound of an extract: none for a full one or a table never promoted."""
    if mode not in ("full", "incremental", "diff"):
        raise ValueError(f"an updated_at bound applies to mode 'full', 'incremental' or 'diff', got mode {mode!r}")
    if mode in ("full", "diff") or watermark is None:
        return None
    return format_watermark(watermark - lookback)


def updated_at_is_wall_clock(conn: sa.Connection, dialect: str, table: str) -> bool:
    """True when a MySQL/MariaDB table's updated_at is DATETIME (a source created before it became
    TIMESTAMP(6)): DATETIME keeps each writer session's wall clock, so its watermark compares as
    UTC only if every writer's session time zone is UTC (README, "Time zones")."""
    if dialect != "mysql":
        return False
    kind = conn.execute(
        sa.text(
            "SELECT DATA_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table AND COLUMN_NAME = :column"
        ),
        {"table": table, "column": UPDATED_AT},
    ).scalar()
    return (kind.decode() if isinstance(kind, bytes) else str(kind or "")).lower() == "datetime"


def _warn_wall_clock_updated_at(table: str) -> None:
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        logger = get_run_logger()
    except MissingContextError:
        logger = logging.getLogger(__name__)
    logger.warning(
        "%s.updated_at is DATETIME, not TIMESTAMP(6): the incremental window is right only if every writer"
        " stamps it in UTC (session time_zone '+00:00'); see README.md, \"Time zones\"",
        table,
    )




def source_has_updated_at(conn: sa.Connection, table: str) -> bool:
    """Whether the source table has the change-tracking column (the original RDS schema has none)."""
    return any(column["name"].lower() == UPDATED_AT for column in sa.inspect(conn).get_columns(table))


def extract_table(settings: Settings, run_id: str, table: str, since: str | None, compare: bool = False, window: bool = True) -> TableExtract:
    """Stage a table's rows: all of them, or those changed since `since` plus what the source
    comparison found (compare=True), or only what the comparison found (window=False: mode diff).

    The comparison (olist_etl.warehouse.compare) runs first, against the warehouse as promoted: the
    keys missing from it or different there are read by key, the keys gone from the source are
    staged as the run's deleted keys. It catches what an updated_at window cannot: deletes, rows
    committed late beyond the lookback, timestamps set back. A table without updated_at always goes
    this way (method "diff"); a comparison that finds more than COMPARE_MAX_KEYS differences
    re-reads the whole table instead (method "full"), which also bounds the memory the keys take.
    """
    source = get_table(table)
    columns = list(source.staged_columns)
    dialect = dialect_of(settings.source_url)
    extract = TableExtract(table=table, columns=columns, since=since)
    diff = compare_with_warehouse(settings, table, updated_at_only=window, since=since) if compare else None

    def read(conn: sa.Connection, writer: PartWriter, progress: Progress) -> None:
        has_updated_at = source_has_updated_at(conn, table)
        if has_updated_at and updated_at_is_wall_clock(conn, dialect, table):
            _warn_wall_clock_updated_at(table)
        # A table without updated_at stages the time its rows were read in that column instead.
        observed = datetime.now(timezone.utc).replace(tzinfo=None)
        observed_at = observed.strftime(WATERMARK_FORMAT)
        params: dict = {"since": since, "high_watermark": None, "observed_at": observed_at}
        if diff is None:
            extract.method = "full" if since is None else "window"
        elif diff.truncated:
            extract.method, params["since"] = "full", None
        else:
            extract.method = "window+compare" if (window and has_updated_at) else "diff"
        extract.since = params["since"]
        if extract.method != "diff":
            if has_updated_at:
                high = conn.execute(sa.text(render("source/extract/max_updated_at.sql", dialect, table=table))).scalar()
                extract.high_watermark = params["high_watermark"] = format_watermark(high)
            if not has_updated_at or params["high_watermark"] is not None:  # else the table is empty
                query = {
                    count: render(
                        "source/extract/changed_rows.sql", dialect, table=table, columns=columns,
                        incremental=params["since"] is not None, count=count, has_updated_at=has_updated_at,
                    )
                    for count in (False, True)
                }
                if arrow_extract.reads_source(settings):
                    _count(conn, query[True], params, progress)
                    arrow_query = arrow_extract.ArrowQuery(
                        table, tuple(columns), params["since"], params["high_watermark"], observed, has_updated_at
                    )
                    arrow_extract.stage_changed_rows(settings, conn, arrow_query, writer)
                else:
                    _stream(conn, query[False], query[True], params, writer, progress)
        if extract.method in ("window+compare", "diff"):
            keys = list(diff.missing) + [key for key, _columns in diff.changed]
            extract.fetched_by_key = _stream_keys(
                conn, dialect, table, columns, keys, writer,
                window=extract.method == "window+compare" and params["high_watermark"] is not None,
                has_updated_at=has_updated_at, params=params,
            )
        if diff is not None:
            extract.deletes = _stage_deleted_keys(settings, run_id, table, diff.extra, whole_table=diff.truncated)

    return _extract_to_parts(settings, run_id, extract, f"Rows of {table} staged by run {run_id}", read)


def compare_with_warehouse(settings: Settings, table: str, updated_at_only: bool, since: str | None = None):
    """The source comparison of one table against its mirror in the warehouse (bounded by COMPARE_MAX_KEYS).

    With `updated_at_only` (an incremental) the keys and updated_at are compared: deletes, rows
    committed late and rows whose timestamp was set back all show, at a fraction of the cost of
    comparing every column. A table without updated_at, and mode diff, compare every column.
    An incremental's window (updated_at > since) is left out of the comparison: the window's read
    stages those rows anyway, and comparing them would only make level 2 re-read their buckets.
    """
    from olist_etl.db import source_engine, warehouse_engine
    from olist_etl.warehouse.compare import compare_table

    source, warehouse = source_engine(settings), warehouse_engine(settings)
    try:
        if updated_at_only:
            with source.connect() as conn:
                updated_at_only = source_has_updated_at(conn, table)
        compared = (UPDATED_AT,) if updated_at_only else None
        return compare_table(
            source, warehouse, table, max_keys=COMPARE_MAX_KEYS, details=False, stop_at_max_keys=True, compared=compared,
            window_since=since if updated_at_only else None,
            # Outside its window an incremental expects no difference: whole-table totals first.
            totals_first=updated_at_only,
        )
    finally:
        source.dispose()
        warehouse.dispose()


def _stream_keys(conn, dialect: str, table: str, columns: list[str], keys: list[tuple], writer: PartWriter,
                 *, window: bool, has_updated_at: bool, params: dict) -> int:
    """Stage the rows of `keys` (outside the window when there is one), KEY_FETCH_CHUNK keys a query."""
    key_columns = list(get_table(table).primary_key)
    read = 0
    for start in range(0, len(keys), KEY_FETCH_CHUNK):
        chunk = keys[start : start + KEY_FETCH_CHUNK]
        sql = render(
            "source/extract/rows_by_key.sql", dialect, table=table, columns=columns, keys=key_columns,
            key_count=len(chunk), window=window, incremental=params.get("since") is not None, has_updated_at=has_updated_at,
        )
        bound = {f"k{i}_{j}": value for i, key in enumerate(chunk) for j, value in enumerate(key)}
        bound["observed_at"] = params["observed_at"]
        if window:
            bound |= {"high_watermark": params["high_watermark"], "since": params.get("since")}
        rows = conn.execute(sa.text(sql), bound).fetchall()
        writer.write_batch(rows)
        read += len(rows)
    return read


def _stage_deleted_keys(settings: Settings, run_id: str, table: str, gone: list, whole_table: bool) -> dict:
    """The manifest's `deletes` entry: every stored key missing from a whole-table read, or the listed ones."""
    if whole_table:
        return {"scope": "all", "key": None, "rows": 0}
    if not gone:
        return {"scope": "none", "key": None, "rows": 0}
    key, rows = write_deleted_keys(open_staging(settings.staging_url), run_id, get_table(table), gone)
    return {"scope": "listed", "key": key, "rows": rows}


def extract_purchase_range(settings: Settings, run_id: str, table: str, window: PurchaseWindow) -> TableExtract:
    """Stage a table's rows tied to the orders purchased in `window`; high_watermark stays None."""
    if table not in BACKFILL_TABLES:
        raise ValueError(f"a backfill slices {', '.join(BACKFILL_TABLES)} by purchase date; {table} has no link to orders")
    columns = list(get_table(table).staged_columns)
    dialect = dialect_of(settings.source_url)
    query = {count: render("source/extract/purchase_range.sql", dialect, table=table, columns=columns, count=count) for count in (False, True)}

    def read(conn: sa.Connection, writer: PartWriter, progress: Progress) -> None:
        _stream(conn, query[False], query[True], window.params(), writer, progress)

    description = f"Rows of {table} staged by backfill run {run_id} ({window.purchased_from} to {window.purchased_to})"
    return _extract_to_parts(settings, run_id, TableExtract(table=table, columns=columns), description, read)


def _extract_to_parts(settings: Settings, run_id: str, extract: TableExtract, description: str, read) -> TableExtract:
    """Open the source and the table's part writer, let `read` stream rows into it, close the parts."""
    engine = extract_engine(settings)
    progress = Progress("extract", extract.table, description)
    writer = PartWriter(open_staging(settings.staging_url), run_id, extract.table, extract.columns, settings.part_rows, on_part=progress.update)
    try:
        with engine.connect() as conn:
            read(conn, writer, progress)
    except BaseException:
        writer.abort()  # no half part is left behind; a retry starts the table over
        raise
    finally:
        engine.dispose()
    extract.parts = writer.close()
    extract.rows = sum(p.rows for p in extract.parts)
    progress.finish()
    return extract


def empty_extract(table: str) -> TableExtract:
    """What a backfill stages for a table it does not slice: no rows, no watermark."""
    return TableExtract(table=table, columns=list(get_table(table).staged_columns))


def _count(conn: sa.Connection, count_query: str, params: dict, progress: Progress) -> None:
    if progress.enabled:
        # The denominator only; rows changing between the count and the read merely skew the bar.
        progress.total = int(conn.execute(sa.text(count_query), params).scalar_one())


def _stream(conn: sa.Connection, query: str, count_query: str, params: dict, writer: PartWriter, progress: Progress) -> None:
    _count(conn, count_query, params, progress)
    # stream_results: a server-side cursor on MySQL, so memory holds one fetch, not the table.
    result = conn.execution_options(stream_results=True).execute(sa.text(query), params)
    while batch := result.fetchmany(FETCH_ROWS):
        writer.write_batch(batch)  # progress moves as each part is written
