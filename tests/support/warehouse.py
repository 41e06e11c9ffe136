"""Build staged runs (manifest + gzip CSV parts) the way the extract stage writes them.

Used by the load and merge tests: the parts follow the staging contract exactly (RFC 4180,
`\\n` line ends, NULL as the unquoted marker of olist_etl.stage, timestamps 'YYYY-MM-DD HH:MM:SS[.ffffff]').
"""

from __future__ import annotations

import gzip
import io
from datetime import datetime
from decimal import Decimal

from olist_etl.staging import StagingArea, write_json
from olist_etl.manifest import Part, RunManifest, TableExtract, manifest_key, part_key
from olist_etl.tables import TABLE_NAMES, get_table
from olist_etl.stage import StagedCsvWriter


def csv_value(value: object) -> object:
    if value is None:
        return None  # StagedCsvWriter writes None as the unquoted NULL marker
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def part_bytes(columns: tuple[str, ...], rows: list[tuple]) -> bytes:
    text = io.StringIO(newline="")
    writer = StagedCsvWriter(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_value(v) for v in row])
    return gzip.compress(text.getvalue().encode("utf-8"))


def stage_run(
    area: StagingArea,
    run_id: str,
    rows: dict[str, list[tuple]],
    *,
    mode: str = "incremental",
    part_rows: int = 1000,
) -> RunManifest:
    """Write every table's rows as parts plus the run manifest; returns the manifest.

    `rows` maps a table name to tuples in catalog order followed by updated_at (a datetime).
    Tables not named are staged with 0 rows and no parts, as in an incremental run.
    """
    extracts = []
    for name in TABLE_NAMES:
        source = get_table(name)
        table_rows = rows.get(name, [])
        parts = []
        for index, start in enumerate(range(0, len(table_rows), part_rows)):
            chunk = table_rows[start : start + part_rows]
            key = part_key(run_id, name, index)
            data = part_bytes(source.staged_columns, chunk)
            with area.writer(key) as out:
                out.write(data)
            parts.append(Part(key=key, rows=len(chunk), bytes=len(data)))
        stamps = [r[-1] for r in table_rows if r[-1] is not None]
        extracts.append(TableExtract(
            table=name,
            columns=list(source.staged_columns),
            rows=len(table_rows),
            parts=parts,
            high_watermark=max(stamps).isoformat(sep=" ", timespec="microseconds") if stamps else None,
        ))
    manifest = RunManifest.of_extracts(run_id, mode, "", extracts)
    write_json(area, manifest_key(run_id), manifest.to_dict())
    return manifest


def hexid(n: int, prefix: str = "") -> str:
    """A 32-character id like the source's md5-looking ids."""
    return (prefix + format(n, "x")).rjust(32, "0")[:32]
