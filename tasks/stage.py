"""Stage: write extracted rows as gzip CSV parts and a run manifest into the staging area.

Layout, one folder per run so nothing is ever overwritten:
    runs/<run_id>/<table>/part-00000.csv.gz   RFC 4180 CSV, UTF-8, header row, NULL = empty field
    runs/<run_id>/manifest.json               parts, row counts, columns and watermarks per table
"""

from __future__ import annotations

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
    """Writes row batches into consecutive CSV parts of at most `part_rows` rows each."""

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
        self.prefix = f"{run_prefix(run_id)}/{table}"
        self.columns = list(columns)
        self.part_rows = part_rows
        self.parts: list[Part] = []
        self.on_part = on_part
        self._pending: list[Sequence] = []

    def write(self, rows: Iterable[Sequence]) -> None:
        for row in rows:
            self._pending.append(row)
            if len(self._pending) >= self.part_rows:
                self._flush()

    def write_batch(self, batch: Sequence[Sequence]) -> None:
        """Faster than write() for lists: slices instead of per-row appends."""
        start = 0
        while start < len(batch):
            room = self.part_rows - len(self._pending)
            self._pending.extend(batch[start : start + room])
            start += room
            if len(self._pending) >= self.part_rows:
                self._flush()

    @property
    def rows_written(self) -> int:
        """Rows in the parts written so far (pending rows not included)."""
        return sum(p.rows for p in self.parts)

    def close(self) -> list[Part]:
        if self._pending:
            self._flush()
        return self.parts

    def _flush(self) -> None:
        key = f"{self.prefix}/part-{len(self.parts):05d}.csv.gz"
        with self.area.writer(key) as raw:
            counted = _CountingWriter(raw)
            with gzip.GzipFile(fileobj=counted, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
                text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(self.columns)
                # csv writes None as an empty unquoted field: the NULL of PostgreSQL and Redshift COPY.
                writer.writerows(self._pending)
                text.flush()
                text.detach()
        self.parts.append(Part(key=key, rows=len(self._pending), bytes=counted.count))
        self._pending = []
        if self.on_part is not None:
            self.on_part(self.rows_written)


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
