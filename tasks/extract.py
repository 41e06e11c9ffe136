"""Extract: stream one source table's changed rows into staged CSV parts.

Incremental extracts read rows with `updated_at` in (watermark - lookback, high_watermark], where
high_watermark is the table's MAX(updated_at) read first: rows committed during the extract wait
for the next run instead of being half-seen, and the lookback catches rows whose transaction
committed late with an older timestamp. The overlap is deduplicated by key at merge.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from prefect import task
from prefect.cache_policies import NO_CACHE

from olist_etl.db import dialect_of, source_engine
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render
from olist_etl.staging import open_staging
from olist_etl.tables import get_table
from tasks.stage import PartWriter, TableExtract

FETCH_ROWS = 10_000
MODES = ("full", "incremental")
WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def format_watermark(value: datetime | str | None) -> str | None:
    """Source timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLite keeps them as text already)."""
    if value is None or isinstance(value, str):
        return value
    return value.strftime(WATERMARK_FORMAT)


def extract_since(mode: str, watermark: datetime | None, lookback: timedelta) -> str | None:
    """The exclusive lower bound of an extract: none for a full one or a table never promoted."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "full" or watermark is None:
        return None
    return format_watermark(watermark - lookback)


@task(
    name="extract-table",
    task_run_name="extract-{table}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
)
def extract_table(settings: Settings, run_id: str, table: str, since: str | None) -> TableExtract:
    spec = get_table(table)
    columns = list(spec.staged_columns)
    dialect = dialect_of(settings.source_url)
    engine = source_engine(settings)
    extract = TableExtract(table=table, columns=columns, since=since)
    writer = PartWriter(open_staging(settings.staging_url), run_id, table, columns, settings.part_rows)
    try:
        with engine.connect() as conn:
            high = conn.execute(sa.text(render("source/extract/max_updated_at.sql", dialect, table=table))).scalar()
            extract.high_watermark = format_watermark(high)
            if high is None:
                return extract
            query = render("source/extract/changed_rows.sql", dialect, table=table, columns=columns, incremental=since is not None)
            params = {"high_watermark": extract.high_watermark, "since": since}
            # stream_results: a server-side cursor on MySQL, so memory holds one fetch, not the table.
            result = conn.execution_options(stream_results=True).execute(sa.text(query), params)
            while batch := result.fetchmany(FETCH_ROWS):
                writer.write_batch(batch)
    finally:
        engine.dispose()
    extract.parts = writer.close()
    extract.rows = sum(p.rows for p in extract.parts)
    return extract
