"""The Arrow extract: a MySQL/MariaDB table read natively into Arrow record batches (connectorx's
streaming mode) and written as gzip CSV parts by Arrow's C++ CSV writer, no Python step per row.

The parts are in the staged dialect (olist_etl/stage.py): header row, "\\n" line ends, NULL as the
unquoted marker, UTF-8. Values are the text the PyMySQL extract stages, byte for byte: ids and text
as stored; integers in decimal; DECIMAL at its declared scale (Arrow decimal128, never float);
DATETIME to the second and TIMESTAMP(6) to the microsecond, as the UTC session reads them; DOUBLE in
Arrow's shortest round-trip text where that equals the server's (1e-4 <= |x| < 1e9, checked on
thousands of values), and as the server's own text, read beside it, for the other rows (Arrow
prints 1e20 as 1e+20, 1e-15 and 1e10 in exponent form where MariaDB writes the digits, -0 as -0).
The one difference: Arrow's writer quotes every non-NULL text field ("abc" where the csv module
writes abc), which COPY and the staged-CSV readers read as the same value; a value equal to the
NULL marker was quoted already, and a CR inside text is now quoted in place (the csv module's rows
holding one were quoted whole). tests/test_arrow_extract.py checks exactly this on a fixed source.

Memory: one record batch (BATCH_ROWS) and the gzip buffer, whatever the table size (connectorx
streams: peak RSS is the same reading 1M rows in one query or in ten). A full read of a big table
goes in primary-key ranges (about RANGE_ROWS rows each), one query a range, in key order, so no
statement holds a long-running scan open on the server; a window is read in one query.

connectorx cannot bind parameters: the watermarks, the observed-at time and the key bounds are
rendered into the SQL as literals, each from a checked, typed value (sql_timestamp, sql_int,
sql_text_bound), never from text as given.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence
from urllib.parse import quote

import sqlalchemy as sa

from olist_etl.manifest import Part, part_key
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render
from olist_etl.staging import StagingArea
from olist_etl.tables import get_table

# Rows per record batch: bounds memory (about 300 bytes a row here) while keeping per-batch
# overhead (one Python call into the writer) negligible.
BATCH_ROWS = 65_536
# Rows per primary-key range. Small tables are one range.
RANGE_ROWS = 250_000
GZIP_LEVEL = 1  # as olist_etl.stage: several times faster than 9, the parts shrink almost as much
NULL_MARKER = "~N~"  # olist_etl.stage.NULL_MARKER (not imported: stage.py is a heavier import)
WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# Bounds for a CHAR primary key: the 15 hex digits split md5-like ids into 16 ranges; any other
# key still falls in exactly one range (binary collation: they partition every string).
HEX_BOUNDS = tuple("123456789abcdef")


class ArrowExtractError(RuntimeError):
    """The Arrow extract cannot stage a value exactly; the message names table, column and value."""


# --- literals for the SQL connectorx runs (it has no bound parameters) -------------------------

def sql_timestamp(value: datetime | str) -> str:
    """A TIMESTAMP literal from a datetime, or from text that parses as 'YYYY-MM-DD HH:MM:SS[.ffffff]'."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r}") from None
    if not isinstance(value, datetime):
        raise TypeError(f"a timestamp literal needs a datetime, got {type(value).__name__}")
    if value.tzinfo is not None:
        raise ValueError(f"timestamps are naive UTC here, got {value.isoformat()!r}")
    return "TIMESTAMP'" + value.strftime(WATERMARK_FORMAT) + "'"


def sql_int(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an integer literal needs an int, got {value!r}")
    return str(value)


_SAFE_BOUND = re.compile(r"[0-9A-Za-z]{1,64}")


def sql_text_bound(value: str) -> str:
    """A key-range bound: letters and digits only, so the quoted literal needs no escaping."""
    if not isinstance(value, str) or not _SAFE_BOUND.fullmatch(value):
        raise ValueError(f"a key bound must be 1-64 letters or digits, got {value!r}")
    return "'" + value + "'"


# --- connection --------------------------------------------------------------------------------

def reads_source(settings: Settings) -> bool:
    """Whether the Arrow extract reads this source: MySQL/MariaDB, OLIST_EXTRACT_READER=arrow, and
    a URL without query options (TLS, charset...), which connectorx would not honour: such a
    source stays on the PyMySQL reader rather than connect differently from what it asks."""
    from olist_etl.db import normalize_url

    url = normalize_url(settings.source_url.reveal())
    return settings.extract_reader == "arrow" and url.get_backend_name() in ("mysql", "mariadb") and not url.query


def connectorx_url(settings: Settings) -> str:
    """The source URL as connectorx takes it (mysql://user:password@host:port/db). Never logged."""
    from olist_etl.db import normalize_url

    url = normalize_url(settings.source_url.reveal())
    if url.get_backend_name() not in ("mysql", "mariadb"):
        raise ValueError(f"the Arrow extract reads MySQL/MariaDB only, not {url.get_backend_name()}")
    user = quote(url.username or "", safe="")
    password = (":" + quote(url.password, safe="")) if url.password else ""
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"mysql://{user}{password}@{host}{port}/{quote(url.database or '', safe='')}"


# --- the columns as the source declares them ---------------------------------------------------

@dataclass(frozen=True)
class SourceColumn:
    name: str
    data_type: str  # information_schema DATA_TYPE, lower case
    numeric_precision: int | None
    numeric_scale: int | None
    datetime_precision: int | None


def source_columns(conn: sa.Connection, table: str) -> dict[str, SourceColumn]:
    rows = conn.execute(
        sa.text(render("source/extract/column_types.sql", "mysql")), {"table": table}
    ).all()

    # The extract engine leaves every value as the server's text (bytes): decode here.
    def text(value) -> str:
        return (value.decode() if isinstance(value, bytes) else str(value)).lower()

    def number(value) -> int | None:
        return None if value is None else int(text(value))

    return {
        text(r.column_name): SourceColumn(
            text(r.column_name), text(r.data_type), number(r.numeric_precision), number(r.numeric_scale), number(r.datetime_precision)
        )
        for r in rows
    }


# --- key ranges --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyRange:
    """[lower, upper) on the first primary-key column; None: unbounded. Bounds are SQL literals."""

    lower: str | None = None
    upper: str | None = None


def key_ranges(conn: sa.Connection, table: str, key: str, column: SourceColumn) -> list[KeyRange]:
    """Ranges of about RANGE_ROWS rows on the table's first key column, covering every key once."""
    estimate = conn.execute(sa.text(render("source/extract/table_rows_estimate.sql", "mysql")), {"table": table}).scalar()
    estimate = int(estimate) if estimate is not None else 0
    if estimate <= RANGE_ROWS:
        return [KeyRange()]
    if column.data_type in ("tinyint", "smallint", "mediumint", "int", "bigint"):
        low, high = conn.execute(sa.text(render("source/extract/key_bounds.sql", "mysql", table=table, key=key))).one()
        if low is None:
            return [KeyRange()]
        count = math.ceil(estimate / RANGE_ROWS)
        step = max(1, math.ceil((int(high) - int(low) + 1) / count))
        cuts = list(range(int(low) + step, int(high) + 1, step))
        bounds = [None] + [sql_int(c) for c in cuts] + [None]
    else:
        bounds = [None] + [sql_text_bound(b) for b in HEX_BOUNDS] + [None]
    return [KeyRange(lo, hi) for lo, hi in zip(bounds, bounds[1:])]


# --- the reader ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArrowQuery:
    table: str
    columns: tuple[str, ...]
    since: str | None  # exclusive lower bound on updated_at (watermark text), None: no bound
    high_watermark: str | None  # inclusive upper bound; None only for a table without updated_at
    observed_at: datetime  # stands in for updated_at in a source without it
    has_updated_at: bool


# The column beside a DOUBLE holding the server's text where Arrow's would differ (else NULL).
SERVER_TEXT_SUFFIX = "__server_text"
FLOAT_TYPES = ("double", "float", "real")


def range_sql(query: ArrowQuery, types: dict[str, SourceColumn], key: str, bounds: KeyRange) -> str:
    as_text = [c for c in query.columns if c in types and types[c].data_type in FLOAT_TYPES]
    return render(
        "source/extract/arrow_rows.sql", "mysql",
        table=query.table, columns=list(query.columns), as_text=as_text, key=key, server_text_suffix=SERVER_TEXT_SUFFIX,
        has_updated_at=query.has_updated_at,
        observed_at=sql_timestamp(query.observed_at),
        high_watermark=sql_timestamp(query.high_watermark) if query.high_watermark is not None else None,
        since=sql_timestamp(query.since) if query.since is not None else None,
        lower=bounds.lower, upper=bounds.upper,
    )


def read_batches(url: str, sql: str, batch_rows: int = BATCH_ROWS):
    """Record batches of one query, streamed; every session reads TIMESTAMP values in UTC."""
    import connectorx

    from olist_etl.db import SOURCE_SESSION_TIME_ZONE

    reader = connectorx.read_sql(
        url, sql, return_type="arrow_stream", batch_size=batch_rows,
        pre_execution_query=[f"SET time_zone = '{SOURCE_SESSION_TIME_ZONE}'"],
    )
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def staged_batch(table: str, batch, types: dict[str, SourceColumn]):
    """The batch with each column in the type whose Arrow text is the staged text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = batch.schema.names
    arrays, fields = [], []
    for name, array in zip(names, batch.columns):
        if name.endswith(SERVER_TEXT_SUFFIX):
            continue  # merged into its DOUBLE column below
        column = types.get(name)
        target = None
        if pa.types.is_floating(array.type) and name + SERVER_TEXT_SUFFIX in names:
            server_text = batch.column(names.index(name + SERVER_TEXT_SUFFIX))
            array = pc.coalesce(server_text, pc.cast(array, pa.string()))
        elif pa.types.is_timestamp(array.type) and column is not None and (column.datetime_precision or 0) == 0:
            target = pa.timestamp("s")  # DATETIME / TIMESTAMP(0): no fraction, as the server prints it
        elif pa.types.is_decimal(array.type) and column is not None and column.numeric_scale is not None:
            target = pa.decimal128(column.numeric_precision or 38, column.numeric_scale)  # the declared scale
        elif pa.types.is_floating(array.type):
            raise ArrowExtractError(f"{table}.{name} arrived as {array.type} without the server's text beside it")
        if target is not None:
            try:
                array = pc.cast(array, target, safe=True)
            except pa.ArrowInvalid as err:
                raise ArrowExtractError(f"{table}.{name}: a value does not fit {target} exactly ({err})") from None
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


# --- the writer ----------------------------------------------------------------------------------

class ArrowPartWriter:
    """Writes record batches into consecutive gzip CSV parts of at most `part_rows` rows.

    `parts` may be a list shared with an olist_etl.stage.PartWriter: part numbers continue from its
    length, so rows the PyMySQL path stages afterwards (the source comparison's keys) follow on.
    """

    def __init__(self, area: StagingArea, run_id: str, table: str, columns: Sequence[str], part_rows: int,
                 parts: list[Part] | None = None, on_part: Callable[[int], None] | None = None):
        if part_rows < 1:
            raise ValueError("part_rows must be at least 1")
        self.area, self.run_id, self.table = area, run_id, table
        self.columns = list(columns)
        self.part_rows = part_rows
        self.parts: list[Part] = parts if parts is not None else []
        self.on_part = on_part
        self._stack: contextlib.ExitStack | None = None
        self._writer = None
        self._counted = None
        self._schema = None
        self._open_rows = 0

    def write_batch(self, batch) -> None:
        if list(batch.schema.names) != self.columns:
            raise ArrowExtractError(f"{self.table}: the reader returned columns {batch.schema.names}, expected {self.columns}")
        start = 0
        while start < batch.num_rows:
            if self._stack is None:
                self._open_part(batch.schema)
            elif batch.schema != self._schema:
                batch = batch.cast(self._schema)  # a range read as another type (an all-NULL column)
            take = min(batch.num_rows - start, self.part_rows - self._open_rows)
            self._writer.write_batch(batch.slice(start, take))
            self._open_rows += take
            start += take
            if self._open_rows >= self.part_rows:
                self._close_part()

    @property
    def rows_written(self) -> int:
        """Rows in the parts closed so far, the shared list's earlier parts included."""
        return sum(p.rows for p in self.parts)

    @property
    def rows_staged(self) -> int:
        """Rows written so far, the open part's included."""
        return self.rows_written + self._open_rows

    def close(self) -> list[Part]:
        if self._stack is not None:
            self._close_part()
        return self.parts

    def abort(self) -> None:
        """Drop the unfinished part: its key never appears (the parts already closed stay)."""
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.__exit__(RuntimeError, RuntimeError("part aborted"), None)

    def _open_part(self, schema) -> None:
        import pyarrow.csv as pacsv

        from olist_etl.stage import _CountingWriter

        stack = contextlib.ExitStack()
        raw = stack.enter_context(self.area.writer(self._key()))
        self._counted = _CountingWriter(raw)
        gz = stack.enter_context(gzip.GzipFile(fileobj=self._counted, mode="wb", compresslevel=GZIP_LEVEL, mtime=0))
        options = pacsv.WriteOptions(
            include_header=True, quoting_header="none", quoting_style="needed", null_string=NULL_MARKER, eol="\n",
        )
        self._writer = pacsv.CSVWriter(gz, schema, write_options=options)
        self._schema, self._stack, self._open_rows = schema, stack, 0

    def _close_part(self) -> None:
        key = self._key()
        self._writer.close()  # flushes into the gzip stream; the stack then finishes and renames it
        stack, self._stack = self._stack, None
        stack.close()
        self.parts.append(Part(key=key, rows=self._open_rows, bytes=self._counted.count))
        if self.on_part is not None:
            self.on_part(self.rows_written)

    def _key(self) -> str:
        return part_key(self.run_id, self.table, len(self.parts))


# --- one table -----------------------------------------------------------------------------------

def stream_table(settings: Settings, conn: sa.Connection, query: ArrowQuery, writer: ArrowPartWriter) -> int:
    """Stage the rows `query` selects, range by range in key order; the rows staged."""
    types = source_columns(conn, query.table)
    key = get_table(query.table).primary_key[0]
    if key not in types:
        raise ArrowExtractError(f"{query.table}: the source has no key column {key!r}")
    url = connectorx_url(settings)
    before = writer.rows_staged
    # A window (incremental) is read whole: its rows are few, and each range would scan the
    # updated_at index again.
    ranges = key_ranges(conn, query.table, key, types[key]) if query.since is None else [KeyRange()]
    for bounds in ranges:
        for batch in read_batches(url, range_sql(query, types, key, bounds)):
            if batch.num_rows:
                writer.write_batch(staged_batch(query.table, batch, types))
    return writer.rows_staged - before


def stage_changed_rows(settings: Settings, conn: sa.Connection, query: ArrowQuery, into) -> int:
    """Stage `query`'s rows as parts of `into` (an olist_etl.stage.PartWriter with no open part):
    its parts list is shared, so the rows it writes afterwards go to the next part numbers."""
    writer = ArrowPartWriter(into.area, into.run_id, into.table, into.columns, into.part_rows, parts=into.parts, on_part=into.on_part)
    try:
        staged = stream_table(settings, conn, query, writer)
    except BaseException:
        writer.abort()  # no half part is left behind; a retry starts the table over
        raise
    writer.close()
    return staged
