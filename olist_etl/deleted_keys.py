"""The keys a run found deleted in the source, staged next to the table's parts.

An incremental or diff sync compares the source's keys with the warehouse's and stages the keys
that are gone as `runs/<run_id>/<table>/deleted-keys.csv.gz` (the catalog key columns, a header
line, no NULLs: key columns are NOT NULL in the source). Promote streams the file into
staging_layer.deleted_<table> inside its transaction, so the deletes are promoted with the run
or not at all, and a quarantined run keeps them with its parts.
"""

from __future__ import annotations

import csv
import gzip
import io
from typing import Iterable, Iterator, Sequence

from olist_etl.manifest import deleted_keys_key
from olist_etl.staging import StagingArea
from olist_etl.tables import SourceTable


def write_deleted_keys(area: StagingArea, run_id: str, source: SourceTable, keys: Iterable[Sequence[str]]) -> tuple[str, int]:
    """Write the keys (tuples in catalog key order); returns the staging key and the key count."""
    key = deleted_keys_key(run_id, source.name)
    rows = 0
    with area.writer(key) as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(source.primary_key)
        for values in keys:
            if len(values) != len(source.primary_key) or any(v is None for v in values):
                raise ValueError(f"{source.name}: a deleted key must have {len(source.primary_key)} non-null values, got {values!r}")
            writer.writerow(values)
            rows += 1
        text.flush()
        text.detach()
    return key, rows


def read_deleted_keys(area: StagingArea, key: str, source: SourceTable, chunk_rows: int) -> Iterator[list[tuple]]:
    """The staged keys in chunks of at most `chunk_rows`, integer key columns as int."""
    ints = [source.column(name).kind == "int" for name in source.primary_key]
    with area.reader(key) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        reader = csv.reader(io.TextIOWrapper(gz, encoding="utf-8", newline=""))
        header = next(reader, None)
        if header != list(source.primary_key):
            raise ValueError(f"{key}: header {header} is not the key of {source.name} {list(source.primary_key)}")
        chunk: list[tuple] = []
        for line, values in enumerate(reader, start=2):
            if len(values) != len(ints):
                raise ValueError(f"{key} line {line}: {len(values)} fields, the key of {source.name} has {len(ints)}")
            chunk.append(tuple(int(v) if is_int else v for v, is_int in zip(values, ints)))
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
