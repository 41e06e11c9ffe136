"""Extract: stream one source table's rows into staged CSV parts.

Incremental extracts read rows with `updated_at` in (watermark - lookback, high_watermark], where
high_watermark is the table's MAX(updated_at) read first: rows committed during the extract wait
for the next run instead of being half-seen, and the lookback catches rows whose transaction
committed late with an older timestamp. The overlap is deduplicated by key at merge.

A backfill re-extracts the orders purchased in an inclusive date range and the rows that hang off
them (sql/source/extract/purchase_range.sql). It records no high watermark, so promoting it never
moves the watermarks the incremental syncs read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from olist_etl.db import dialect_of, extract_engine
from olist_etl.retrying import retry_transient_only
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render
from olist_etl.staging import open_staging
from olist_etl.tables import get_table
from tasks.progress import Progress
from tasks.stage import PartWriter, TableExtract

FETCH_ROWS = 10_000
MODES = ("full", "incremental", "backfill")
WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# The tables a backfill slices, each by its link to the orders purchased in the range. The others
# (geolocation, the category translations) do not hang off orders: a backfill stages none of them.
BACKFILL_TABLES = ("customers", "orders", "order_items", "order_payments", "order_reviews", "products", "sellers")
# Source connections and reads are what fails transiently: about 5 s, 10 s, 20 s (jittered up to
# +50 % around the same average, so parallel table extracts do not retry in lockstep).
EXTRACT_RETRIES = 3
EXTRACT_BACKOFF = exponential_backoff(backoff_factor=5)


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
    if mode not in ("full", "incremental"):
        raise ValueError(f"an updated_at bound applies to mode 'full' or 'incremental', got mode {mode!r}")
    if mode == "full" or watermark is None:
        return None
    return format_watermark(watermark - lookback)


# Both extract tasks: source reads and staging writes are I/O, retried with backoff while the
# error is transient; a retry starts the table over.
_EXTRACT_TASK_OPTIONS = dict(
    cache_policy=NO_CACHE,
    retries=EXTRACT_RETRIES,
    retry_delay_seconds=EXTRACT_BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient_only,
)


@task(name="extract-table", task_run_name="extract-{table}", **_EXTRACT_TASK_OPTIONS)
def extract_table(settings: Settings, run_id: str, table: str, since: str | None) -> TableExtract:
    columns = list(get_table(table).staged_columns)
    dialect = dialect_of(settings.source_url)
    extract = TableExtract(table=table, columns=columns, since=since)

    def read(conn: sa.Connection, writer: PartWriter, progress: Progress) -> None:
        high = conn.execute(sa.text(render("source/extract/max_updated_at.sql", dialect, table=table))).scalar()
        extract.high_watermark = format_watermark(high)
        if high is None:
            return
        query = {
            count: render("source/extract/changed_rows.sql", dialect, table=table, columns=columns, incremental=since is not None, count=count)
            for count in (False, True)
        }
        _stream(conn, query[False], query[True], {"high_watermark": extract.high_watermark, "since": since}, writer, progress)

    return _extract_to_parts(settings, run_id, extract, f"Rows of {table} staged by run {run_id}", read)


@task(name="extract-purchase-range", task_run_name="backfill-{table}", **_EXTRACT_TASK_OPTIONS)
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


def _stream(conn: sa.Connection, query: str, count_query: str, params: dict, writer: PartWriter, progress: Progress) -> None:
    if progress.enabled:
        # The denominator only; rows changing between the count and the read merely skew the bar.
        progress.total = int(conn.execute(sa.text(count_query), params).scalar_one())
    # stream_results: a server-side cursor on MySQL, so memory holds one fetch, not the table.
    result = conn.execution_options(stream_results=True).execute(sa.text(query), params)
    while batch := result.fetchmany(FETCH_ROWS):
        writer.write_batch(batch)  # progress moves as each part is written
