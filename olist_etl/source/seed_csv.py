"""Seed the source from the Kaggle Olist CSV files exactly as downloaded.

What the real export throws at us, and what we do about it:
* header typos (`product_name_lenght`): mapped by the catalog's `kaggle_renames`; columns are
  matched by name, never by position;
* a UTF-8 byte-order mark on the translation file: read as utf-8-sig;
* quoted multi-line review comments and mixed quoting: the csv module's RFC 4180 parsing;
* empty fields: NULL (the pipeline treats '' and NULL the same, so we store one of them);
* no geolocation id: the database assigns the surrogate key;
* malformed rows (wrong field count, a value that does not parse or does not fit its column, a
  duplicate key): reported with file, line and reason, written to a rejects CSV, never loaded and
  never silently dropped. A zip prefix that is not five digits is not malformed here: it is kept
  as text and the pipeline's gates judge it.

Files are streamed in chunks through the shared bulk writer; a whole table is never in memory
(only the keys already seen, to report duplicates with the line that came first).
"""

from __future__ import annotations

import csv
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator, TextIO

import sqlalchemy as sa

from olist_etl.source.bulk import assert_tables_empty, open_table_writer
from olist_etl.source.report import RejectedRow, SeedReport
from olist_etl.source.schema import ensure_seed_marker_table, source_dialect, write_seed_marker
from olist_etl.tables import TABLES, SourceTable

CHUNK_ROWS = 20_000

# Kaggle exports written through pandas turn int columns with gaps into floats ("40.0").
_INT = re.compile(r"[+-]?\d+(?:\.0*)?")
_MONEY = re.compile(r"[+-]?\d{1,10}(?:\.\d{1,2})?")
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")
_INT_RANGES = {"SMALLINT": (-32768, 32767), "INTEGER": (-(2**31), 2**31 - 1)}


class RowError(ValueError):
    """Why one CSV row cannot be loaded."""


@dataclass(frozen=True)
class ColumnRule:
    """How one catalog column's CSV text is checked and normalised before loading."""

    name: str
    kind: str
    nullable: bool
    max_length: int | None
    int_range: tuple[int, int] | None

    def parse(self, text: str) -> str | None:
        if text == "":
            if not self.nullable:
                raise RowError(f"{self.name} is required but empty")
            return None
        value = _PARSERS.get(self.kind, _as_text)(self, text)
        if self.max_length is not None and len(value) > self.max_length:
            raise RowError(f"{self.name} has {len(value)} characters, the column holds {self.max_length}")
        return value


def _as_text(rule: ColumnRule, text: str) -> str:
    # Free text, ids, zips and states are kept byte for byte: no stripping, no case folding.
    return text


def _as_int(rule: ColumnRule, text: str) -> str:
    stripped = text.strip()
    if not _INT.fullmatch(stripped):
        raise RowError(f"{rule.name} is not an integer: {text!r}")
    value = int(stripped.split(".")[0])
    low, high = rule.int_range or _INT_RANGES["INTEGER"]
    if not low <= value <= high:
        raise RowError(f"{rule.name} is out of range: {text!r}")
    return str(value)


def _as_money(rule: ColumnRule, text: str) -> str:
    stripped = text.strip()
    if not _MONEY.fullmatch(stripped):
        raise RowError(f"{rule.name} is not an amount with at most 2 decimals: {text!r}")
    return stripped.lstrip("+")


def _as_float(rule: ColumnRule, text: str) -> str:
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        raise RowError(f"{rule.name} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise RowError(f"{rule.name} is not a finite number: {text!r}")
    return repr(value)


def _as_timestamp(rule: ColumnRule, text: str) -> str:
    match = _TIMESTAMP.fullmatch(text.strip())
    try:
        if not match:
            raise ValueError
        parts = [int(p) if p else 0 for p in match.groups()]
        value = datetime(*parts)
    except ValueError:
        raise RowError(f"{rule.name} is not a timestamp YYYY-MM-DD HH:MM:SS: {text!r}") from None
    return value.strftime("%Y-%m-%d %H:%M:%S")


_PARSERS: dict[str, Callable[[ColumnRule, str], str]] = {
    "int": _as_int,
    "money": _as_money,
    "float": _as_float,
    "timestamp": _as_timestamp,
    "date": _as_timestamp,
}


def column_rules(conn: sa.Connection, table: SourceTable) -> dict[str, ColumnRule]:
    """Rules from the catalog's kinds and the live table's declared lengths and integer sizes.

    Reading the sizes from the database keeps one definition (the DDL) and rejects a value that
    does not fit before the server truncates it.
    """
    declared = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns(table.name)}
    rules = {}
    for column in table.columns:
        sql_type = declared[column.name]
        length = getattr(sql_type, "length", None)
        int_range = _INT_RANGES["SMALLINT"] if isinstance(sql_type, sa.SmallInteger) else None
        rules[column.name] = ColumnRule(column.name, column.kind, column.nullable, length, int_range)
    return rules


class _LineTap:
    """Iterates a file's lines for csv.reader and remembers the raw lines of the current record.

    The rejects file then gets a bad record exactly as it was, even across quoted newlines.
    """

    def __init__(self, lines: TextIO):
        self._lines = lines
        self.taken: list[str] = []

    def __iter__(self) -> "_LineTap":
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line

    def take(self) -> str:
        raw = "".join(self.taken)
        self.taken.clear()
        return raw


@dataclass
class _Record:
    line: int
    fields: list[str] | None  # None: the csv parser itself gave up on this record
    raw: str
    error: str | None = None


def read_records(handle: TextIO) -> Iterator[_Record]:
    """CSV records with the line each starts on (1 = header) and its raw text."""
    tap = _LineTap(handle)
    reader = csv.reader(tap, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield _Record(start, None, tap.take(), f"unparseable CSV: {err}")
            continue
        raw = tap.take()
        if fields:  # a blank line is no record
            yield _Record(start, fields, raw)


class RejectsFile:
    """A CSV of rejected records: file, line, reason and the record as it was in the file."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: TextIO | None = None
        self._writer = None
        # A rejects file from an earlier run would describe data we are not loading now.
        path.unlink(missing_ok=True)

    def write(self, file: str, line: int, reason: str, raw: str) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # surrogateescape: bytes that were not UTF-8 in the input go back out unchanged.
            self._handle = open(self.path, "w", encoding="utf-8", errors="surrogateescape", newline="")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["file", "line", "reason", "record"])
        self._writer.writerow([file, line, reason, raw])

    @property
    def written(self) -> bool:
        return self._writer is not None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _header_columns(table: SourceTable, header: list[str]) -> tuple[list[str | None], list[str]]:
    """Catalog column per header position (None: ignored) and the catalog columns loaded.

    Raises RowError when a column the table needs is missing or a column appears twice.
    """
    renames = dict(table.kaggle_renames)
    mapped = [renames.get(name.strip(), name.strip()) for name in header]
    known = [name if name in table.column_names else None for name in mapped]
    present = [name for name in known if name is not None]
    duplicated = sorted({name for name in present if present.count(name) > 1})
    if duplicated:
        raise RowError(f"header repeats {', '.join(duplicated)}")
    optional = set(table.primary_key) if table.surrogate_key else set()
    missing = [c for c in table.column_names if c not in present and c not in optional]
    if missing:
        raise RowError(f"header lacks {', '.join(missing)}")
    return known, [c for c in table.column_names if c in present]


def _parse_record(fields: list[str], positions: list[str | None], loaded: list[str], rules: dict[str, ColumnRule]) -> tuple[str | None, ...]:
    if len(fields) != len(positions):
        raise RowError(f"expected {len(positions)} fields, found {len(fields)}")
    by_name = {name: text for name, text in zip(positions, fields) if name is not None}
    for text in by_name.values():
        if any("\udc80" <= ch <= "\udcff" for ch in text):
            raise RowError("not valid UTF-8")
    return tuple(rules[name].parse(by_name[name]) for name in loaded)


def load_csv_file(
    conn: sa.Connection, table: SourceTable, path: Path, rejects: RejectsFile, report: SeedReport
) -> int:
    """Load one Kaggle file into its table; returns the rows loaded."""
    rules = column_rules(conn, table)
    key_positions: list[int] = []
    first_seen: dict[tuple[str | None, ...], int] = {}
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        records = read_records(handle)
        header = next(records, None)
        if header is None or header.fields is None:
            report.notes.append(f"{path.name}: no header row; file skipped")
            return 0
        try:
            positions, loaded = _header_columns(table, header.fields)
        except RowError as err:
            report.notes.append(f"{path.name}: {err}; file skipped")
            return 0
        if not table.surrogate_key:
            key_positions = [loaded.index(c) for c in table.primary_key]
        writer = open_table_writer(conn, table.name, loaded)
        chunk: list[tuple[str | None, ...]] = []
        for record in records:
            try:
                if record.fields is None:
                    raise RowError(record.error)
                row = _parse_record(record.fields, positions, loaded, rules)
                if key_positions:
                    key = tuple(row[i] for i in key_positions)
                    if key in first_seen:
                        raise RowError(f"duplicate primary key, first on line {first_seen[key]}")
                    first_seen[key] = record.line
            except RowError as err:
                report.reject(table.name, RejectedRow(path.name, record.line, str(err)))
                rejects.write(path.name, record.line, str(err), record.raw)
                continue
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                writer.write(chunk)
                chunk = []
        writer.write(chunk)
        return writer.close()


def seed_from_csv(engine: sa.Engine, csv_dir: Path | str, *, rejects_dir: Path | str) -> SeedReport:
    """Load every Kaggle file found in csv_dir into the (empty) source tables, in one transaction.

    Missing files are skipped with a note; rejected rows go to `<rejects_dir>/<file>.rejects.csv`.
    """
    csv_dir, rejects_dir = Path(csv_dir), Path(rejects_dir)
    if not csv_dir.is_dir():
        raise FileNotFoundError(f"no such folder: {csv_dir}")
    source_dialect(engine)
    started = time.perf_counter()
    report = SeedReport(source=f"CSV files in {csv_dir}")
    ensure_seed_marker_table(engine)
    with engine.begin() as conn:
        assert_tables_empty(conn, [t.name for t in TABLES])
        for table in TABLES:
            path = csv_dir / table.kaggle_file
            if not path.is_file():
                report.notes.append(f"{table.kaggle_file} not found; {table.name} left empty")
                report.rows[table.name] = 0
                continue
            rejects = RejectsFile(rejects_dir / (Path(table.kaggle_file).stem + ".rejects.csv"))
            try:
                report.rows[table.name] = load_csv_file(conn, table, path, rejects, report)
            finally:
                rejects.close()
            if rejects.written:
                report.rejects_files.append(rejects.path)
        # Same transaction as the rows: simulate-changes trusts only a complete seed.
        write_seed_marker(conn, source="csv", csv_dir=str(csv_dir.resolve()))
    report.seconds = time.perf_counter() - started
    return report
