"""Stage: write extracted rows as gzip CSV parts and a run manifest into the staging area.

Layout, one folder per run so nothing is ever overwritten:
    runs/<run_id>/<table>/part-00000.csv.gz   RFC 4180 CSV, UTF-8, header row, NULL = empty field
    runs/<run_id>/manifest.json               parts, row counts, columns and watermarks per table
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from olist_etl.retrying import retry_transient_only
from olist_etl.settings import Settings
from olist_etl.staging import StagingArea, open_staging, read_json, write_json

# Level 1 is several times faster than the default 9 and the parts shrink almost as much.
GZIP_LEVEL = 1


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus random hex."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}"


def manifest_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/manifest.json"


@dataclass
class Part:
    key: str
    rows: int
    bytes: int


@dataclass
class TableExtract:
    """What one table's extract staged: the manifest entry for that table."""

    table: str
    columns: list[str]
    rows: int = 0
    parts: list[Part] = field(default_factory=list)
    since: str | None = None
    high_watermark: str | None = None

    def manifest_entry(self) -> dict:
        entry = asdict(self)
        entry.pop("table")
        return entry


class PartWriter:
    """Writes rows into consecutive gzip CSV parts of at most `part_rows` rows each.

    Rows go straight into the open part's gzip stream, so memory holds one fetch, not a part. A
    part becomes visible under its key only when it is complete (the staging area's writer renames
    or uploads on close); abort() drops an unfinished one.
    """

    def __init__(
        self,
        area: StagingArea,
        run_id: str,
        table: str,
        columns: Sequence[str],
        part_rows: int,
        on_part: Callable[[int], None] | None = None,
    ):
        """`on_part` is called after each part is written, with the rows written so far."""
        if part_rows < 1:
            raise ValueError("part_rows must be at least 1")
        self.area = area
        self.prefix = f"runs/{run_id}/{table}"
        self.columns = list(columns)
        self.part_rows = part_rows
        self.parts: list[Part] = []
        self.on_part = on_part
        self._open: contextlib.ExitStack | None = None
        self._csv = None
        self._counted: _CountingWriter | None = None
        self._text: io.TextIOWrapper | None = None
        self._open_rows = 0

    def write(self, rows: Iterable[Sequence]) -> None:
        for row in rows:
            self.write_batch((row,))

    def write_batch(self, batch: Sequence[Sequence]) -> None:
        """Write a list of rows, splitting it across parts where a part fills up."""
        start = 0
        while start < len(batch):
            if self._open is None:
                self._open_part()
            chunk = batch[start : start + self.part_rows - self._open_rows]
            # csv writes None as an empty unquoted field: the NULL of PostgreSQL and Redshift COPY.
            self._csv.writerows(chunk)
            self._open_rows += len(chunk)
            start += len(chunk)
            if self._open_rows >= self.part_rows:
                self._close_part()

    @property
    def rows_written(self) -> int:
        """Rows in the parts written so far (the open part's rows not included)."""
        return sum(p.rows for p in self.parts)

    def close(self) -> list[Part]:
        if self._open is not None:
            self._close_part()
        return self.parts

    def abort(self) -> None:
        """Drop the unfinished part: its key never appears (the parts already closed stay)."""
        if self._open is not None:
            stack, self._open = self._open, None
            stack.__exit__(RuntimeError, RuntimeError("part aborted"), None)

    def _open_part(self) -> None:
        stack = contextlib.ExitStack()
        raw = stack.enter_context(self.area.writer(self._key()))
        self._counted = _CountingWriter(raw)
        gz = stack.enter_context(gzip.GzipFile(fileobj=self._counted, mode="wb", compresslevel=GZIP_LEVEL, mtime=0))
        self._text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow(self.columns)
        self._open, self._open_rows = stack, 0

    def _close_part(self) -> None:
        key = self._key()
        self._text.flush()
        self._text.detach()  # the gzip stream closes with the stack, not with the wrapper
        stack, self._open = self._open, None
        stack.close()  # finishes the gzip member, then renames or uploads the part
        self.parts.append(Part(key=key, rows=self._open_rows, bytes=self._counted.count))
        if self.on_part is not None:
            self.on_part(self.rows_written)

    def _key(self) -> str:
        return f"{self.prefix}/part-{len(self.parts):05d}.csv.gz"


class _CountingWriter(io.RawIOBase):
    def __init__(self, inner):
        self.inner = inner
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.count += len(data)
        self.inner.write(data)
        return len(data)


# An S3 PUT: about 3 s, then 6 s (the staging writes of the extract retry with the extract).
@task(
    name="write-manifest",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=3),
    retry_condition_fn=retry_transient_only,
)
def write_manifest(
    settings: Settings, run_id: str, mode: str, extracts: list[TableExtract], purchased: dict[str, str] | None = None
) -> dict:
    """Write the run's manifest last: a run without one never reaches the load stage.

    `purchased` is a backfill's inclusive purchase-date range ({"from": ..., "to": ...}).
    """
    manifest = {
        "run_id": run_id,
        "mode": mode,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "staging_url": settings.staging_url,
        "tables": {e.table: e.manifest_entry() for e in sorted(extracts, key=lambda e: e.table)},
    }
    if purchased is not None:
        manifest["purchased"] = purchased
    write_json(open_staging(settings.staging_url), manifest_key(run_id), manifest)
    return manifest


def read_manifest(settings: Settings, run_id: str) -> dict:
    return read_json(open_staging(settings.staging_url), manifest_key(run_id))  # type: ignore[return-value]
