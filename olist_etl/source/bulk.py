"""The one bulk path into the source database, shared by the CSV seeder and the generator.

Rows arrive in chunks as tuples of text (or None for NULL), already validated and normalised by
the caller; the database converts text to its column types.

* MySQL/MariaDB: chunks are appended to a temporary tab-separated file that is sent with
  `LOAD DATA LOCAL INFILE` every FILE_ROWS rows, the fastest way in.
* SQLite: batched `executemany` inside the caller's transaction.

`LOAD DATA LOCAL` cannot stop the client mid-file, so the server treats errors as warnings and
skips or truncates rows (duplicate keys, values too long). We therefore compare the loaded count
with the rows sent and refuse any warning: a silently dropped row is a failed load.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterable, Protocol, Sequence

import sqlalchemy as sa

from olist_etl.source.schema import source_dialect
from olist_etl.tables import quote_ident, quote_mysql_ident

Row = Sequence[str | None]

# Rows per LOAD DATA statement: large enough to amortise the round trip, small enough that the
# temporary file stays in the tens of megabytes.
FILE_ROWS = 250_000

# MySQL's default LOAD DATA escaping (ESCAPED BY '\\'): \N is NULL, and a backslash, tab, newline,
# carriage return or NUL inside a value must be escaped or it would split fields and lines.
TSV_NULL = "\\N"
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


class BulkLoadError(RuntimeError):
    """The database did not take every row it was sent."""


class TableWriter(Protocol):
    table: str
    rows: int

    def write(self, rows: Iterable[Row]) -> None: ...

    def close(self) -> int: ...


def tsv_line(row: Row) -> str:
    """One LOAD DATA line (without the newline) for a row of text values."""
    return "\t".join([TSV_NULL if value is None else value.translate(_TSV_ESCAPES) for value in row])


class MySQLTableWriter:
    """Streams rows through temporary TSV files and LOAD DATA LOCAL INFILE."""

    def __init__(self, conn: sa.Connection, table: str, columns: Sequence[str]):
        self._conn = conn
        self.table = table
        self.rows = 0
        self._columns = tuple(columns)
        self._dir = tempfile.TemporaryDirectory(prefix="olist-load-")
        self._path = os.path.join(self._dir.name, f"{table}.tsv")
        self._file = None
        self._pending = 0
        # The file is UTF-8; the session must read it so, whatever the server's default.
        conn.execute(sa.text("SET NAMES utf8mb4"))

    def write(self, rows: Iterable[Row]) -> None:
        lines = [tsv_line(row) for row in rows]
        if not lines:
            return
        if self._file is None:
            self._file = open(self._path, "w", encoding="utf-8", newline="")
        self._file.write("\n".join(lines))
        self._file.write("\n")
        self._pending += len(lines)
        if self._pending >= FILE_ROWS:
            self._load()

    def _load(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        columns = ", ".join(quote_mysql_ident(c) for c in self._columns)
        statement = sa.text(
            f"LOAD DATA LOCAL INFILE :path INTO TABLE {quote_mysql_ident(self.table)} CHARACTER SET utf8mb4"
            " FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"
            f" ({columns})"
        )
        loaded = self._conn.execute(statement, {"path": self._path}).rowcount
        warnings = self._conn.execute(sa.text("SHOW WARNINGS LIMIT 5")).all()
        if loaded != self._pending or warnings:
            details = "; ".join(f"{w[0]} {w[1]}: {w[2]}" for w in warnings) or "no warnings"
            raise BulkLoadError(f"{self.table}: sent {self._pending} rows, the server loaded {loaded} ({details})")
        self.rows += loaded
        self._pending = 0
        os.remove(self._path)

    def close(self) -> int:
        try:
            self._load()
        finally:
            if self._file is not None:
                self._file.close()
            self._dir.cleanup()
        return self.rows


class SQLiteTableWriter:
    """Batched executemany; the caller's transaction makes the whole seed one commit."""

    def __init__(self, conn: sa.Connection, table: str, columns: Sequence[str]):
        self._conn = conn
        self.table = table
        self.rows = 0
        names = ", ".join(quote_ident(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        self._insert = f"INSERT INTO {quote_ident(table)} ({names}) VALUES ({marks})"

    def write(self, rows: Iterable[Row]) -> None:
        batch = [tuple(row) for row in rows]
        if batch:
            self._conn.exec_driver_sql(self._insert, batch)
            self.rows += len(batch)

    def close(self) -> int:
        return self.rows


def open_table_writer(conn: sa.Connection, table: str, columns: Sequence[str]) -> TableWriter:
    """The bulk writer for the connection's dialect; `table` and `columns` come from the catalog."""
    if source_dialect(conn) == "mysql":
        return MySQLTableWriter(conn, table, columns)
    return SQLiteTableWriter(conn, table, columns)


def assert_tables_empty(conn: sa.Connection, tables: Iterable[str]) -> None:
    """Seeding appends; refuse tables that already hold rows rather than mixing two data sets."""
    quote = quote_mysql_ident if source_dialect(conn) == "mysql" else quote_ident
    filled = [t for t in tables if conn.execute(sa.text(f"SELECT 1 FROM {quote(t)} LIMIT 1")).first() is not None]
    if filled:
        raise ValueError(
            f"source tables already hold rows: {', '.join(filled)}; "
            "create the schema with drop_existing=True before seeding"
        )
