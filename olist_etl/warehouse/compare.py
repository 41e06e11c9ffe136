"""Prove the warehouse equals the source: a cross-database comparison computed inside each database.

The approach is data-diff's. Every row is rendered to one canonical text, identically in MySQL /
MariaDB, SQLite and PostgreSQL (and Redshift, rendered but unverified: no cluster is reachable):

* each field by its catalog kind: text as is; int as decimal text; money with exactly 2 decimals;
  float rounded half away from zero to FLOAT_DECIMALS (9) decimals, from the value's shortest
  round-trip text on both sides; timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff'; dates 'YYYY-MM-DD';
* each field then length-prefixed, `<characters>~<text>`, and NULL as `N`: a prefix code, so ''
  (`0~`) and NULL (`N`) differ and no choice of separators inside a value can shift a boundary.

Level 0 (optional, `totals_first`: an incremental): each database returns its whole table's row
count and exact sum of the 60-bit row hashes; equal totals end the comparison with no key hash and
no grouping, otherwise level 1 follows.
Level 1: per table, each database groups its rows by bucket (the first BUCKET_DIGITS hex digits of
md5(key text)) and returns (bucket, row count, exact sum of a 60-bit integer from md5(row text));
only those few thousand rows travel, and both databases are queried at the same time.
Level 2: for the buckets that differ, in batches bounded by row count, both sides return
(key hash, row hash, key) and Python names the keys missing from the warehouse, extra in it, and
changed; for changed keys (up to max_keys) the canonical field texts are fetched and compared to
name the columns that differ, with both values.

The warehouse side of each source table is its mirror relation (MIRRORS): rows with deleted_at set
(deleted in the source), SCD2 versions that are not current, and the unknown member (natural key
NULL) are not compared. updated_at is never compared, except by an incremental (`compared`).

An incremental also leaves its window out (`window_since`): the source rows changed after the
window's start are staged by the window's own read, so comparing them against the warehouse as
promoted would only make their buckets differ and send level 2 through most of each big table.
The source side keeps the rows at or before the window's start (and rows with no updated_at);
the warehouse side drops the keys of the window's rows, copied into a temporary table. Both source
reads (those keys, then the buckets) run in one REPEATABLE READ transaction: one snapshot, so a row
moving in or out of the window between them cannot look deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from olist_etl.tables import TABLE_NAMES, UPDATED_AT, SourceTable, get_table, quote_ident, quote_mysql_ident

WAREHOUSE_SCHEMA = "user_access_layer"
# Decimals a DOUBLE is compared to. Lat/lng need about 6 (0.1 m); 9 is far below any real
# difference and far above the ~15 significant digits a double holds for values under 1000.
FLOAT_DECIMALS = 9
# 3 hex digits = 4096 buckets: at scale 1 the largest table (geolocation, ~1M rows) has ~250 rows
# per bucket, so one differing row costs a 250-row fetch; measured in docs/verify.md.
BUCKET_DIGITS = 3
# Level 2 holds at most about this many (key hash, row hash, key) rows per side at once.
BATCH_ROWS = 100_000
# Changed keys whose column values are fetched per query.
DETAIL_CHUNK = 500
# The temporary warehouse table that holds the keys of an incremental's window, and the keys
# copied into it per INSERT (bound parameters; also Redshift's way, where executemany is slow).
WINDOW_KEYS_TABLE = "olist_window_keys"
WINDOW_KEYS_CHUNK = 500
# The source's isolation for a windowed comparison: one snapshot for the window's keys and the buckets.
SOURCE_SNAPSHOT_ISOLATION = "REPEATABLE READ"

_TEXT_KINDS = frozenset({"id", "zip", "state", "text"})
_KINDS = _TEXT_KINDS | {"int", "money", "float", "timestamp", "date"}


class CompareError(RuntimeError):
    """A comparison query failed; the message names the table and the side, on one line."""


@dataclass(frozen=True)
class Mirror:
    """The warehouse relation that holds a source table's rows (same column names)."""

    table: str  # catalog name of the source table
    relation: str  # table in WAREHOUSE_SCHEMA
    current_only: bool = False  # SCD2 dimension: compare the current versions only

    @property
    def source(self) -> SourceTable:
        return get_table(self.table)


MIRRORS: tuple[Mirror, ...] = (
    Mirror("customers", "customer_account"),
    Mirror("geolocation", "geolocation_point"),
    Mirror("orders", "fact_orders"),
    Mirror("order_items", "fact_order_items"),
    Mirror("order_payments", "fact_payments"),
    Mirror("order_reviews", "fact_reviews"),
    Mirror("products", "dim_product", current_only=True),
    Mirror("sellers", "dim_seller", current_only=True),
    Mirror("product_category_name_translation", "product_category_translation"),
)
_MIRROR_OF = {m.table: m for m in MIRRORS}
if set(_MIRROR_OF) != set(TABLE_NAMES):  # a new catalog table must say where the warehouse keeps it
    raise RuntimeError(f"tables without a mirror: {sorted(set(TABLE_NAMES) - set(_MIRROR_OF))}")


def mirror_of(table: str) -> Mirror:
    get_table(table)  # an unknown name raises KeyError listing the known ones
    return _MIRROR_OF[table]


@dataclass(frozen=True)
class ChangedColumn:
    name: str
    source_value: str | None  # canonical text (see the module docstring); None is NULL
    warehouse_value: str | None


Key = tuple[str, ...]
Changed = tuple[Key, tuple[ChangedColumn, ...]]


@dataclass(frozen=True)
class TableDiff:
    table: str
    source_rows: int
    warehouse_rows: int
    missing: list[Key]  # in the source, not in the warehouse
    extra: list[Key]  # in the warehouse, not in the source
    changed: list[Changed]  # same key, different values
    truncated: bool  # True when max_keys cut a list; the counts below stay exact
    seconds: float
    missing_count: int = 0
    extra_count: int = 0
    changed_count: int = 0
    buckets_differing: int = 0
    batches: int = 0  # level-2 fetches (bounded-memory batches)

    @property
    def equal(self) -> bool:
        return not (self.missing_count or self.extra_count or self.changed_count)

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """JSON-ready form; `limit` caps each key list (the counts stay exact)."""
        cut = (lambda items: items[:limit]) if limit is not None else (lambda items: items)
        return {
            "source_rows": self.source_rows,
            "warehouse_rows": self.warehouse_rows,
            "missing": [list(k) for k in cut(self.missing)],
            "extra": [list(k) for k in cut(self.extra)],
            "changed": [
                {"key": list(k), "columns": {c.name: {"source": c.source_value, "warehouse": c.warehouse_value} for c in cols}}
                for k, cols in cut(self.changed)
            ],
            "missing_count": self.missing_count,
            "extra_count": self.extra_count,
            "changed_count": self.changed_count,
            "truncated": self.truncated or (limit is not None and max(len(self.missing), len(self.extra), len(self.changed)) > limit),
            "seconds": round(self.seconds, 3),
        }


# --- rendering per dialect ---------------------------------------------------------------------


def _fixed(value: Any, places: int) -> str | None:
    """SQLite's money and float text: shortest round-trip text, rounded half away from zero."""
    if value is None:
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return str(value)  # not a number: compared as is, so the difference shows its value
    return format(number.copy_abs() if number.is_zero() else number, "f")


def _timestamp(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)  # not a timestamp: compared (and shown) as stored
    return parsed.strftime("%Y-%m-%d %H:%M:%S.%f")


def _date(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return parsed.isoformat()


def _md5(text: str | None) -> str | None:
    return None if text is None else hashlib.md5(text.encode("utf-8")).hexdigest()


class _Sum60:
    """SQLite aggregate: the exact sum of 60-bit integers from md5 hex (SQLite's SUM overflows)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, digest: str | None) -> None:
        if digest is not None:
            self.total += int(digest[:15], 16)

    def finalize(self) -> str:
        return str(self.total)


class Dialect(ABC):
    """SQL for the canonical row text in one database. Expressions are for sqlalchemy.text()."""

    name = ""

    def quote(self, ident: str) -> str:
        return quote_ident(ident)

    @abstractmethod
    def field(self, kind: str, col: str) -> str:
        """Each database renders it its own way."""

    @abstractmethod
    def encode(self, expr: str) -> str:
        """Each database renders it its own way."""

    def concat(self, parts: Sequence[str]) -> str:
        return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"

    def md5(self, expr: str) -> str:
        return f"md5({expr})"

    def prefix(self, expr: str, digits: int) -> str:
        return f"substr({expr}, 1, {int(digits)})"

    @abstractmethod
    def sum60(self, digest: str) -> str:
        """Each database renders it its own way."""

    def prepare(self, conn: sa.Connection) -> None:
        """Per-connection setup before the queries."""

    def text_type(self) -> str:
        """A column type that holds any key text (the window keys' temporary table)."""
        return "TEXT"

    def analyze(self, relation: str) -> str | None:
        """Statistics for a freshly filled temporary table, so joins against it plan as hash joins."""
        return None


class MySQLDialect(Dialect):
    name = "mysql"

    def quote(self, ident: str) -> str:
        return quote_mysql_ident(ident)

    def field(self, kind: str, col: str) -> str:
        if kind in _TEXT_KINDS:
            return col  # CHAR drops trailing spaces, as PostgreSQL's CHAR -> TEXT does
        if kind == "int":
            return f"CAST({col} AS CHAR)"
        if kind == "money":
            return f"CAST(CAST({col} AS DECIMAL(12,2)) AS CHAR)"
        if kind == "float":
            # DOUBLE -> DECIMAL goes through the shortest round-trip text, then rounds half up.
            return f"CAST(CAST({col} AS DECIMAL(30,{FLOAT_DECIMALS})) AS CHAR)"
        if kind == "timestamp":
            return f"DATE_FORMAT({col}, '%Y-%m-%d %H\\:%i\\:%s.%f')"
        if kind == "date":
            return f"DATE_FORMAT({col}, '%Y-%m-%d')"
        raise ValueError(f"no canonical text for column kind {kind!r}")

    def encode(self, expr: str) -> str:
        return f"COALESCE(CONCAT(CHAR_LENGTH({expr}), '~', {expr}), 'N')"

    def concat(self, parts: Sequence[str]) -> str:
        return parts[0] if len(parts) == 1 else "CONCAT(" + ", ".join(parts) + ")"

    def md5(self, expr: str) -> str:
        return f"MD5({expr})"

    def prefix(self, expr: str, digits: int) -> str:
        return f"SUBSTRING({expr}, 1, {int(digits)})"

    def sum60(self, digest: str) -> str:
        # SUM of BIGINT UNSIGNED is an exact DECIMAL.
        return f"SUM(CAST(CONV(SUBSTRING({digest}, 1, 15), 16, 10) AS UNSIGNED))"


class SQLiteDialect(Dialect):
    """SQLite has no md5, no exact big sums and no microsecond formatting: Python functions,
    registered on each connection, do those steps with the same rules."""

    name = "sqlite"

    def field(self, kind: str, col: str) -> str:
        if kind in _TEXT_KINDS or kind == "int":
            return f"CAST({col} AS TEXT)"
        if kind == "money":
            return f"olist_fixed({col}, 2)"
        if kind == "float":
            return f"olist_fixed({col}, {FLOAT_DECIMALS})"
        if kind == "timestamp":
            return f"olist_timestamp({col})"
        if kind == "date":
            return f"olist_date({col})"
        raise ValueError(f"no canonical text for column kind {kind!r}")

    def encode(self, expr: str) -> str:
        return f"COALESCE(length({expr}) || '~' || {expr}, 'N')"

    def md5(self, expr: str) -> str:
        return f"olist_md5({expr})"

    def sum60(self, digest: str) -> str:
        return f"olist_sum60({digest})"

    def prepare(self, conn: sa.Connection) -> None:
        raw = conn.connection.driver_connection
        raw.create_function("olist_md5", 1, _md5, deterministic=True)
        raw.create_function("olist_fixed", 2, _fixed, deterministic=True)
        raw.create_function("olist_timestamp", 1, _timestamp, deterministic=True)
        raw.create_function("olist_date", 1, _date, deterministic=True)
        raw.create_aggregate("olist_sum60", 1, _Sum60)


class PostgresDialect(Dialect):
    name = "postgresql"

    def field(self, kind: str, col: str) -> str:
        if kind in _TEXT_KINDS or kind == "int":
            return f"CAST({col} AS TEXT)"
        if kind == "money":
            return f"CAST(CAST({col} AS NUMERIC(12,2)) AS TEXT)"
        if kind == "float":
            # float8 -> numeric directly keeps only 15 digits (a second rounding); through its
            # shortest round-trip text (extra_float_digits = 1) it matches MySQL's conversion.
            return f"CAST(CAST(CAST({col} AS TEXT) AS NUMERIC(30,{FLOAT_DECIMALS})) AS TEXT)"
        if kind == "timestamp":
            return f"to_char({col}, 'YYYY-MM-DD HH24\\:MI\\:SS.US')"
        if kind == "date":
            return f"to_char({col}, 'YYYY-MM-DD')"
        raise ValueError(f"no canonical text for column kind {kind!r}")

    def encode(self, expr: str) -> str:
        return f"COALESCE(CAST(char_length({expr}) AS TEXT) || '~' || {expr}, 'N')"

    def sum60(self, digest: str) -> str:
        # 15 hex digits = 60 bits: a positive bigint; SUM(bigint) is an exact numeric.
        return f"SUM(CAST(CAST('x' || lpad(substr({digest}, 1, 15), 16, '0') AS BIT(64)) AS BIGINT))"

    def prepare(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SET LOCAL extra_float_digits = 1"))

    def analyze(self, relation: str) -> str | None:
        return f"ANALYZE {relation}"


class RedshiftDialect(PostgresDialect):
    """UNVERIFIED: rendered for Redshift, never run (no cluster reachable). Redshift's float text
    and float -> DECIMAL rounding in particular are not checked against MySQL's."""

    name = "redshift"

    def field(self, kind: str, col: str) -> str:
        if kind in _TEXT_KINDS:
            return f"CAST({col} AS VARCHAR(65535))"
        if kind == "int":
            return f"CAST({col} AS VARCHAR(20))"
        if kind == "money":
            return f"CAST(CAST({col} AS DECIMAL(12,2)) AS VARCHAR(20))"
        if kind == "float":
            return f"CAST(CAST({col} AS DECIMAL(30,{FLOAT_DECIMALS})) AS VARCHAR(40))"
        return super().field(kind, col)

    def encode(self, expr: str) -> str:
        # Redshift's CHAR_LENGTH ignores trailing blanks; measuring expr || '.' keeps them.
        return f"COALESCE(CAST(CHAR_LENGTH({expr} || '.') - 1 AS VARCHAR(12)) || '~' || {expr}, 'N')"

    def sum60(self, digest: str) -> str:
        # SUM(BIGINT) is BIGINT on Redshift and would overflow: sum DECIMAL(38,0).
        return f"SUM(CAST(STRTOL(SUBSTRING({digest}, 1, 15), 16) AS DECIMAL(38,0)))"

    def prepare(self, conn: sa.Connection) -> None:
        pass

    def text_type(self) -> str:
        return "VARCHAR(65535)"  # Redshift's TEXT is VARCHAR(256)


def dialect_for(engine: Engine) -> Dialect:
    name = engine.dialect.name
    if name in ("mysql", "mariadb"):
        return MySQLDialect()
    if name == "sqlite":
        return SQLiteDialect()
    if name == "postgresql":
        return PostgresDialect()
    if name == "redshift":
        return RedshiftDialect()
    raise ValueError(f"cannot compare on a {name} database")


# --- one side of the comparison ----------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One table in one database, with the SQL that renders its canonical rows."""

    label: str  # "source" | "warehouse"
    engine: Engine
    dialect: Dialect
    table: SourceTable
    relation_sql: str
    where_sql: str | None
    # The columns whose values are compared (the key always is): every catalog column, or a
    # subset such as updated_at alone (compared=(UPDATED_AT,): the cheap check of an incremental).
    compared: tuple[str, ...] | None = None
    # Bound parameters of where_sql, and a connection held for the whole comparison (one snapshot
    # on the source; the temporary window-keys table on the warehouse). None: one per query.
    params: tuple[tuple[str, Any], ...] = ()
    conn: sa.Connection | None = None

    @property
    def compared_columns(self) -> tuple[str, ...]:
        return self.table.column_names if self.compared is None else self.compared

    def _field(self, name: str) -> str:
        kind = "timestamp" if name == UPDATED_AT else self.table.column(name).kind
        return self.dialect.field(kind, self.dialect.quote(name))

    def _hashes(self) -> tuple[str, str]:
        """md5 of the key's canonical text, md5 of the compared row's canonical text."""
        d, t = self.dialect, self.table
        key_text = d.concat([d.encode(self._field(k)) for k in t.primary_key])
        row_columns = t.column_names if self.compared is None else t.primary_key + tuple(c for c in self.compared if c not in t.primary_key)
        row_text = d.concat([d.encode(self._field(c)) for c in row_columns])
        return d.md5(key_text), d.md5(row_text)

    def _where(self) -> str:
        return f" WHERE {self.where_sql}" if self.where_sql else ""

    def inner(self, *, with_key: bool = False, with_columns: bool = False) -> str:
        key_hash, row_hash = self._hashes()
        items = [f"{key_hash} AS kh", f"{row_hash} AS rh"]
        if with_key:
            items += [f"{self._field(k)} AS k{i}" for i, k in enumerate(self.table.primary_key)]
        if with_columns:
            items += [f"{self._field(c)} AS c{i}" for i, c in enumerate(self.compared_columns)]
        return f"SELECT {', '.join(items)} FROM {self.relation_sql}{self._where()}"

    def bucket_sql(self, digits: int) -> str:
        # No derived table: MariaDB merges one into the outer query and then computes the key's
        # md5 twice per row (once to group, once for the bucket's value); GROUP BY 1 computes it once.
        d = self.dialect
        key_hash, row_hash = self._hashes()
        return f"SELECT {d.prefix(key_hash, digits)} AS bucket, COUNT(*) AS n, {d.sum60(row_hash)} AS s FROM {self.relation_sql}{self._where()} GROUP BY 1"

    def totals_sql(self) -> str:
        """Level 0: the whole table's row count and 60-bit hash sum, with no key hash and no grouping."""
        _key_hash, row_hash = self._hashes()
        return f"SELECT COUNT(*) AS n, {self.dialect.sum60(row_hash)} AS s FROM {self.relation_sql}{self._where()}"

    def keys_sql(self, digits: int) -> sa.TextClause:
        keys = ", ".join(f"k{i}" for i in range(len(self.table.primary_key)))
        sql = f"SELECT kh, rh, {keys} FROM ({self.inner(with_key=True)}) d WHERE {self.dialect.prefix('kh', digits)} IN :buckets"
        return sa.text(sql).bindparams(sa.bindparam("buckets", expanding=True))

    def columns_sql(self) -> sa.TextClause:
        cols = ", ".join(f"c{i}" for i in range(len(self.compared_columns)))
        sql = f"SELECT kh, {cols} FROM ({self.inner(with_columns=True)}) d WHERE kh IN :hashes"
        return sa.text(sql).bindparams(sa.bindparam("hashes", expanding=True))

    def fetch(self, statement: sa.TextClause | str, params: dict | None = None) -> list[sa.Row]:
        """Run one query; a database error becomes one readable line naming the table and side."""
        statement = sa.text(statement) if isinstance(statement, str) else statement
        bound = dict(self.params) | (params or {})
        with self.failing_as_compare_error():
            if self.conn is not None:
                return self.conn.execute(statement, bound).all()
            with self.engine.connect() as conn:
                self.dialect.prepare(conn)
                return conn.execute(statement, bound).all()

    @contextlib.contextmanager
    def failing_as_compare_error(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as err:
            detail = str(getattr(err, "orig", None) or err).strip().splitlines()
            raise CompareError(f"{self.table.name}: the {self.label} query failed: {detail[0] if detail else err.__class__.__name__}") from err


def make_side(
    label: str, dialect: Dialect, table: SourceTable, engine: Engine | None = None, compared: tuple[str, ...] | None = None
) -> Side:
    """The source table itself, or (label "warehouse") its mirror's live, current rows."""
    d = dialect
    if label == "source":
        return Side(label, engine, d, table, d.quote(table.name), None, compared)  # type: ignore[arg-type]
    mirror = mirror_of(table.name)
    conditions = ["deleted_at IS NULL"] + [f"{d.quote(k)} IS NOT NULL" for k in table.primary_key]
    if mirror.current_only:
        conditions.append("is_current")
    relation = f"{d.quote(WAREHOUSE_SCHEMA)}.{d.quote(mirror.relation)}"
    return Side(label, engine, d, table, relation, " AND ".join(conditions), compared)  # type: ignore[arg-type]


# --- the comparison ----------------------------------------------------------------------------


def _both(pool: ThreadPoolExecutor, left: Callable[[], Any], right: Callable[[], Any]) -> tuple[Any, Any]:
    """Run the source and the warehouse query at the same time."""
    a, b = pool.submit(left), pool.submit(right)
    return a.result(), b.result()


def _buckets(rows: list[sa.Row]) -> dict[str, tuple[int, int]]:
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def _totals(rows: list[sa.Row]) -> tuple[int, int]:
    (count, total), = rows
    return int(count), int(total or 0)  # SUM over no rows is NULL


def _batches(buckets: list[str], sizes: dict[str, int], batch_rows: int, batch_buckets: int | None) -> Iterator[list[str]]:
    """Consecutive groups of buckets holding at most batch_rows rows (a bigger bucket goes alone)."""
    batch: list[str] = []
    rows = 0
    for bucket in buckets:
        full = rows + sizes[bucket] > batch_rows or (batch_buckets is not None and len(batch) >= batch_buckets)
        if batch and full:
            yield batch
            batch, rows = [], 0
        batch.append(bucket)
        rows += sizes[bucket]
    if batch:
        yield batch


def compare_table(
    source_engine: Engine,
    warehouse_engine: Engine,
    table: str,
    *,
    max_keys: int | None = None,
    bucket_digits: int = BUCKET_DIGITS,
    batch_rows: int = BATCH_ROWS,
    batch_buckets: int | None = None,
    details: bool = True,
    stop_at_max_keys: bool = False,
    compared: Sequence[str] | None = None,
    window_since: str | None = None,
    totals_first: bool = False,
) -> TableDiff:
    """Compare one source table with its warehouse mirror (see the module docstring).

    max_keys caps each of the missing / extra / changed lists (the counts stay exact);
    batch_rows and batch_buckets bound what one level-2 fetch holds in memory. A sync's extract
    needs neither the differing columns (details=False) nor exact counts past the cap
    (stop_at_max_keys=True: the first batch that fills a list ends the comparison, truncated).
    `compared` names the columns compared besides the key (default: every catalog column); an
    incremental compares updated_at alone, which finds deletes, late commits and timestamps set
    back at a fraction of the cost (a correction that keeps updated_at needs the full comparison).
    `window_since` (an incremental's window start, as bound in its extract) leaves the rows the
    window stages out of both sides (see the module docstring); the source needs updated_at.
    `totals_first` compares each side's whole-table count and hash sum first (level 0), and stops
    there when they are equal: cheaper when equality is the rule (an incremental outside its
    window), one more scan per side when the table differs.
    """
    if not 1 <= bucket_digits <= 8:
        raise ValueError(f"bucket_digits must be 1..8, got {bucket_digits}")
    if batch_rows < 1 or (batch_buckets is not None and batch_buckets < 1):
        raise ValueError("batch_rows and batch_buckets must be at least 1")
    spec = get_table(table)
    started = time.perf_counter()
    only = tuple(compared) if compared is not None else None
    src = make_side("source", dialect_for(source_engine), spec, source_engine, only)
    wh = make_side("warehouse", dialect_for(warehouse_engine), spec, warehouse_engine, only)
    cap = max_keys if max_keys is not None else float("inf")
    missing: list[Key] = []
    extra: list[Key] = []
    changed: list[Changed] = []
    counts = {"missing": 0, "extra": 0, "changed": 0}
    batches = 0
    stopped = False
    with contextlib.ExitStack() as held, ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"compare-{table}") as pool:
        if window_since is not None:
            src, wh = _without_window(held, src, wh, window_since)
        totals = _both(pool, lambda: _totals(src.fetch(src.totals_sql())), lambda: _totals(wh.fetch(wh.totals_sql()))) if totals_first else None
        if totals is not None and totals[0] == totals[1]:
            # Level 0 says equal: one bucket standing for the table carries the row counts.
            s_buckets = w_buckets = {"": totals[0]}
        else:
            s_buckets, w_buckets = _both(
                pool, lambda: _buckets(src.fetch(src.bucket_sql(bucket_digits))), lambda: _buckets(wh.fetch(wh.bucket_sql(bucket_digits)))
            )
        differing = sorted(b for b in s_buckets.keys() | w_buckets.keys() if s_buckets.get(b) != w_buckets.get(b))
        sizes = {b: s_buckets.get(b, (0, 0))[0] + w_buckets.get(b, (0, 0))[0] for b in differing}
        for batch in _batches(differing, sizes, batch_rows, batch_buckets):
            if stop_at_max_keys and max(len(missing), len(extra), len(changed)) >= cap:
                stopped = True  # the counts past here are unknown: the result says truncated
                break
            batches += 1
            params = {"buckets": batch}
            s_rows, w_rows = _both(pool, lambda: src.fetch(src.keys_sql(bucket_digits), params), lambda: wh.fetch(wh.keys_sql(bucket_digits), params))
            by_hash: dict[str, tuple[Key, str]] = {}
            for kh, rh, *key in s_rows:
                if kh in by_hash:  # a duplicated source key: the warehouse (keyed) cannot hold it twice
                    counts["missing"] += 1
                    if len(missing) < cap:
                        missing.append(tuple(key))
                    continue
                by_hash[kh] = (tuple(key), rh)
            del s_rows
            to_detail: list[tuple[str, Key]] = []
            for kh, rh, *key in w_rows:
                found = by_hash.pop(kh, None)
                if found is None:  # not in the source (or a second warehouse row for one key)
                    counts["extra"] += 1
                    if len(extra) < cap:
                        extra.append(tuple(key))
                elif found[1] != rh:
                    counts["changed"] += 1
                    if len(changed) + len(to_detail) < cap:
                        to_detail.append((kh, found[0]))
            del w_rows
            for key, _ in by_hash.values():
                counts["missing"] += 1
                if len(missing) < cap:
                    missing.append(key)
            if not details:
                changed.extend((key, ()) for _, key in to_detail)
                continue
            for start in range(0, len(to_detail), DETAIL_CHUNK):
                changed.extend(_changed_columns(pool, src, wh, to_detail[start : start + DETAIL_CHUNK]))
    missing.sort()
    extra.sort()
    changed.sort(key=lambda item: item[0])
    return TableDiff(
        table=table,
        source_rows=sum(n for n, _ in s_buckets.values()),
        warehouse_rows=sum(n for n, _ in w_buckets.values()),
        missing=missing,
        extra=extra,
        changed=changed,
        truncated=stopped or counts["missing"] > len(missing) or counts["extra"] > len(extra) or counts["changed"] > len(changed),
        seconds=time.perf_counter() - started,
        missing_count=counts["missing"],
        extra_count=counts["extra"],
        changed_count=counts["changed"],
        buckets_differing=len(differing),
        batches=batches,
    )


def _without_window(held: contextlib.ExitStack, src: Side, wh: Side, since: str) -> tuple[Side, Side]:
    """Both sides without the rows an incremental's window stages (updated_at > since).

    The source side keeps a connection in one REPEATABLE READ transaction: the window's keys and
    every later source query read the same snapshot. The warehouse side keeps the connection that
    holds the keys' temporary table (gone with the connection, whatever happens).
    """
    source_conn = held.enter_context(src.engine.connect())
    if src.dialect.name == "mysql":
        source_conn.execution_options(isolation_level=SOURCE_SNAPSHOT_ISOLATION)  # before the first read
    warehouse_conn = held.enter_context(wh.engine.connect())
    key_names = src.table.primary_key
    columns = [f"window_k{i}" for i in range(len(key_names))]
    stamp = src.dialect.quote(UPDATED_AT)
    with src.failing_as_compare_error():
        src.dialect.prepare(source_conn)
        window_keys = source_conn.execute(
            sa.text(f"SELECT {', '.join(src._field(k) for k in key_names)} FROM {src.relation_sql} WHERE {stamp} > :window_since")
            .execution_options(stream_results=True),  # a big window streams into the warehouse in chunks
            {"window_since": since},
        )
        with wh.failing_as_compare_error():
            wh.dialect.prepare(warehouse_conn)
            text = wh.dialect.text_type()
            warehouse_conn.execute(sa.text(f"CREATE TEMPORARY TABLE {WINDOW_KEYS_TABLE} ({', '.join(f'{c} {text}' for c in columns)})"))
            while chunk := window_keys.fetchmany(WINDOW_KEYS_CHUNK):
                rows = ", ".join("(" + ", ".join(f":r{i}_{j}" for j in range(len(columns))) + ")" for i in range(len(chunk)))
                bound = {f"r{i}_{j}": value for i, key in enumerate(chunk) for j, value in enumerate(key)}
                warehouse_conn.execute(sa.text(f"INSERT INTO {WINDOW_KEYS_TABLE} ({', '.join(columns)}) VALUES {rows}"), bound)
            if analyze := wh.dialect.analyze(WINDOW_KEYS_TABLE):
                warehouse_conn.execute(sa.text(analyze))
    source_side, warehouse_side = _outside_window(src, wh)
    return replace(source_side, params=(("window_since", since),), conn=source_conn), replace(warehouse_side, conn=warehouse_conn)


def _outside_window(src: Side, wh: Side) -> tuple[Side, Side]:
    """The two sides' conditions that leave the window out (bound: window_since)."""
    stamp = src.dialect.quote(UPDATED_AT)
    # Rows with no updated_at are never in a window: they are compared.
    kept = f"({stamp} IS NULL OR {stamp} <= :window_since)"
    matches = " AND ".join(f"w.window_k{i} = {wh._field(k)}" for i, k in enumerate(wh.table.primary_key))
    outside = f"NOT EXISTS (SELECT 1 FROM {WINDOW_KEYS_TABLE} w WHERE {matches})"
    return replace(src, where_sql=kept), replace(wh, where_sql=f"{wh.where_sql} AND {outside}" if wh.where_sql else outside)


def _changed_columns(pool: ThreadPoolExecutor, src: Side, wh: Side, keys: list[tuple[str, Key]]) -> list[Changed]:
    """The columns that differ for these changed keys, with both sides' canonical values."""
    params = {"hashes": [kh for kh, _ in keys]}
    s_rows, w_rows = _both(pool, lambda: src.fetch(src.columns_sql(), params), lambda: wh.fetch(wh.columns_sql(), params))
    s_values = {row[0]: tuple(row[1:]) for row in s_rows}
    w_values = {row[0]: tuple(row[1:]) for row in w_rows}
    names = src.compared_columns
    out: list[Changed] = []
    for kh, key in keys:
        s, w = s_values.get(kh), w_values.get(kh)
        if s is None or w is None:  # the row changed between the two reads
            continue
        cols = tuple(ChangedColumn(n, a, b) for n, a, b in zip(names, s, w) if a != b)
        out.append((key, cols))
    return out


def compare_all(
    source_engine: Engine,
    warehouse_engine: Engine,
    tables: Sequence[str] | None = None,
    *,
    max_keys: int | None = None,
    **tuning: Any,
) -> list[TableDiff]:
    """compare_table for each named table (default: every catalog table), in catalog order."""
    names = list(TABLE_NAMES if tables is None else tables)
    for name in names:
        get_table(name)  # refuse an unknown name before any query runs
    return [compare_table(source_engine, warehouse_engine, name, max_keys=max_keys, **tuning) for name in names]


_DIALECTS: dict[str, type[Dialect]] = {
    "mysql": MySQLDialect,
    "sqlite": SQLiteDialect,
    "postgresql": PostgresDialect,
    "redshift": RedshiftDialect,
}


def render_bucket_sql(dialect: str, table: str, *, source: bool, digits: int = BUCKET_DIGITS, window: bool = False) -> str:
    """The level-1 SQL for one table on one dialect, as plain text (for review and the Redshift render);
    `window`: an incremental's, with the window left out (compared: updated_at)."""
    spec = get_table(table)
    compared = (UPDATED_AT,) if window else None
    side = make_side("source" if source else "warehouse", _DIALECTS[dialect](), spec, compared=compared)
    if window:
        other = make_side("warehouse" if source else "source", _DIALECTS[dialect](), spec, compared=compared)
        side = _outside_window(side, other)[0] if source else _outside_window(other, side)[1]
    return side.bucket_sql(digits).replace("\\:", ":")
