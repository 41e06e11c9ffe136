"""The source type contract and the source key check, run by gate-source-columns before the extract.

The contract says, per catalog column kind (olist_etl/tables.py), which source column types the
warehouse column (sql/warehouse/macros.jinja `_types`) holds without loss: no rounding, no
truncation, no overflow. A source whose DDL drifts past that (DECIMAL(12,2) widened to
DECIMAL(14,4), an INT made BIGINT, a DATETIME made VARCHAR, a key made nullable) is named before
anything is extracted, instead of failing a load or a promote, or silently rounding.

MySQL / MariaDB types come from information_schema.COLUMNS and their unique indexes from
information_schema.STATISTICS. SQLite declares types loosely (a declared type is an affinity, not
a bound), so there only what loses data is checked: a text-kind column whose affinity would turn
'01310' into 1310.

Each check is returned as a ContractCheck whose summary() has the shape of the other gates'
per-expectation summaries and whose failure() is a GateFailure (olist_etl/gates/results.py), so
it reaches the gate result, the run summary and the data docs the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from olist_etl.gates.results import GateFailure
from olist_etl.tables import UPDATED_AT, SourceTable, quote_ident, quote_mysql_ident

SAMPLE_ROWS = 5  # duplicated keys reported per table, and rows shown per duplicated key
TYPE_CHECK = "expect_column_values_to_be_in_type_list"
UNIQUE_COLUMN = "expect_column_values_to_be_unique"
UNIQUE_COMPOUND = "expect_compound_columns_to_be_unique"
COLUMN_EXISTS = "expect_column_to_exist"

INTEGER_MAX = 2_147_483_647  # warehouse INTEGER
MONEY_INTEGER_DIGITS, MONEY_SCALE = 10, 2  # warehouse NUMERIC(12,2)
DOUBLE_EXACT_DIGITS = 15  # a decimal of at most 15 significant digits survives DOUBLE PRECISION
REDSHIFT_TEXT_BYTES, REDSHIFT_LONG_TEXT_BYTES = 256, 65535
# The catalog text columns that are VARCHAR(65535) on Redshift (macros.jinja _long_text_columns).
LONG_TEXT_COLUMNS = ("review_comment_title", "review_comment_message")

# Largest value of each MySQL integer type, signed and unsigned.
_INT_MAX = {
    "tinyint": (127, 255),
    "smallint": (32_767, 65_535),
    "mediumint": (8_388_607, 16_777_215),
    "int": (2_147_483_647, 4_294_967_295),
    "integer": (2_147_483_647, 4_294_967_295),
    "bigint": (9_223_372_036_854_775_807, 18_446_744_073_709_551_615),
}
_CHAR_TYPES = ("char", "varchar")
_TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")
_FIXED_LENGTH = {"id": 32, "zip": 5, "state": 2}
_WAREHOUSE = {"id": "CHAR(32)", "zip": "CHAR(5)", "state": "CHAR(2)", "int": "INTEGER", "money": "NUMERIC(12,2)",
              "float": "DOUBLE PRECISION", "timestamp": "TIMESTAMP", "date": "DATE"}


@dataclass(frozen=True)
class SourceType:
    """One source column's type as the source reports it."""

    data_type: str  # lower case base name: decimal, int, varchar, datetime, ...
    column_type: str  # as declared, e.g. "decimal(12,2)", "int(10) unsigned"
    nullable: bool
    length: int | None = None  # characters
    octets: int | None = None
    precision: int | None = None
    scale: int | None = None
    unsigned: bool = False

    def __str__(self) -> str:
        return self.column_type + ("" if self.nullable else " NOT NULL")


@dataclass
class ContractCheck:
    """One evaluated check, in the result shape of gate-source-columns' other checks."""

    table: str
    expectation: str
    column: str | list[str] | None
    severity: str
    description: str
    kwargs: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)
    unexpected: int = 0
    observed: Any = None

    def summary(self) -> dict:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "severity": self.severity,
            "success": self.unexpected == 0,
            "unexpected_count": self.unexpected,
            "kwargs": self.kwargs,
            "description": self.description,
            "sample_values": self.samples,
            "observed_value": self.observed,
        }

    def failure(self) -> GateFailure:
        return GateFailure(
            table=self.table,
            expectation=self.expectation,
            column=self.column,
            severity=self.severity,
            unexpected_count=self.unexpected,
            sample_values=self.samples,
            description=self.description,
        )


# ---------------------------------------------------------------------------------------------
# Reading the source's metadata


def source_dialect(engine_or_conn) -> str:
    name = engine_or_conn.dialect.name
    if name in ("mysql", "mariadb"):
        return "mysql"
    if name == "sqlite":
        return "sqlite"
    raise ValueError(f"no source type contract for {name!r}; the source is MySQL, MariaDB or SQLite")


def read_column_types(conn: sa.Connection, table: str) -> dict[str, SourceType]:
    """Every column of a source table with its type; {} when the table does not exist."""
    if source_dialect(conn) == "sqlite":
        out = {}
        for row in conn.execute(sa.text(f"PRAGMA table_info({quote_ident(table)})")).mappings():
            declared = (row["type"] or "").lower()
            out[row["name"]] = SourceType(declared.split("(")[0].strip(), declared, nullable=not row["notnull"])
        return out
    rows = conn.execute(
        sa.text(
            "select COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH,"
            " NUMERIC_PRECISION, NUMERIC_SCALE from information_schema.COLUMNS"
            " where TABLE_SCHEMA = database() and TABLE_NAME = :t order by ORDINAL_POSITION"
        ),
        {"t": table},
    ).all()
    return {
        name: SourceType(
            data_type=str(data_type).lower(),
            column_type=str(column_type).lower(),
            nullable=nullable == "YES",
            length=_int(length),
            octets=_int(octets),
            precision=_int(precision),
            scale=_int(scale),
            unsigned="unsigned" in str(column_type).lower(),
        )
        for name, data_type, column_type, nullable, length, octets, precision, scale in rows
    }


def _int(value) -> int | None:
    return None if value is None else int(value)


def unique_indexes(conn: sa.Connection, table: str) -> list[tuple[str, tuple[str, ...]]]:
    """The table's PRIMARY and UNIQUE indexes as (name, columns)."""
    if source_dialect(conn) == "sqlite":
        found = []
        info = conn.execute(sa.text(f"PRAGMA table_info({quote_ident(table)})")).mappings().all()
        pk = tuple(r["name"] for r in sorted((r for r in info if r["pk"]), key=lambda r: r["pk"]))
        if pk:  # an INTEGER PRIMARY KEY is the rowid and has no index of its own
            found.append(("PRIMARY", pk))
        for index in conn.execute(sa.text(f"PRAGMA index_list({quote_ident(table)})")).mappings().all():
            if index["unique"] and index["origin"] != "pk":
                columns = conn.execute(sa.text(f"PRAGMA index_info({quote_ident(index['name'])})")).mappings().all()
                found.append((index["name"], tuple(c["name"] for c in sorted(columns, key=lambda c: c["seqno"]))))
        return found
    rows = conn.execute(
        sa.text(
            "select INDEX_NAME, COLUMN_NAME from information_schema.STATISTICS"
            " where TABLE_SCHEMA = database() and TABLE_NAME = :t and NON_UNIQUE = 0 order by INDEX_NAME, SEQ_IN_INDEX"
        ),
        {"t": table},
    ).all()
    indexes: dict[str, list[str]] = {}
    for name, column in rows:
        indexes.setdefault(name, []).append(column)
    return [(name, tuple(columns)) for name, columns in indexes.items()]


def key_enforced(indexes: list[tuple[str, tuple[str, ...]]], key: tuple[str, ...], types: dict[str, SourceType]) -> str | None:
    """The name of a unique index that makes duplicates of `key` impossible, else None.

    An index on the key's columns (or on a subset of them) does; a UNIQUE one only when its
    columns are NOT NULL, because a UNIQUE index lets NULL repeat.
    """
    for name, columns in indexes:
        if set(columns) <= set(key) and (name == "PRIMARY" or all(c in types and not types[c].nullable for c in columns)):
            return name
    return None


def duplicate_keys(conn: sa.Connection, table: SourceTable, columns: list[str]) -> tuple[int, list[dict]]:
    """(number of keys the source holds more than once, a few of them with their rows).

    GROUP BY runs in the source; only the count and SAMPLE_ROWS keys with SAMPLE_ROWS rows each
    come back, whatever the table's size. NULLs group together, as the merge would treat them.
    """
    mysql = source_dialect(conn) == "mysql"
    q = quote_mysql_ident if mysql else quote_ident
    key = ", ".join(q(c) for c in table.primary_key)
    grouped = f"select {key}, count(*) as copies from {q(table.name)} group by {key} having count(*) > 1"
    count = conn.execute(sa.text(f"select count(*) from ({grouped}) as duplicated")).scalar_one()
    if not count:
        return 0, []
    samples = []
    # NULL-safe equality, so a duplicated key with a NULL part finds its rows too.
    same = "<=>" if mysql else "is"
    where = " and ".join(f"{q(c)} {same} :k{i}" for i, c in enumerate(table.primary_key))
    selected = ", ".join(q(c) for c in columns)
    for row in conn.execute(sa.text(f"{grouped} order by {key} limit {SAMPLE_ROWS}")).all():
        values = {f"k{i}": row[i] for i in range(len(table.primary_key))}
        rows = conn.execute(sa.text(f"select {selected} from {q(table.name)} where {where} limit {SAMPLE_ROWS}"), values).mappings().all()
        samples.append({
            "key": {c: _plain(row[i]) for i, c in enumerate(table.primary_key)},
            "copies": int(row[-1]),
            "rows": [{c: _plain(r[c]) for c in columns} for r in rows],
        })
    return int(count), samples


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date, time)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------------------------
# The contract


@dataclass(frozen=True)
class Verdict:
    severity: str | None  # None: accepted
    expected: str
    reason: str = ""


def expected_type(kind: str, column_name: str, warehouse: str) -> str:
    """What the contract accepts for a kind, in words (shown in every result, passed or failed)."""
    if kind in _FIXED_LENGTH:
        n = _FIXED_LENGTH[kind]
        return f"CHAR(n) or VARCHAR(n) with n <= {n} (warehouse {_WAREHOUSE[kind]})"
    if kind == "text":
        if warehouse == "redshift":
            limit = REDSHIFT_LONG_TEXT_BYTES if column_name in LONG_TEXT_COLUMNS else REDSHIFT_TEXT_BYTES
            return f"a character type of at most {limit} characters (warehouse VARCHAR({limit}), bytes)"
        return "any character type (warehouse TEXT)"
    if kind == "int":
        return "an integer type up to signed INT, or DECIMAL(p,0) with p <= 9 (warehouse INTEGER)"
    if kind == "money":
        return (f"DECIMAL(p,s) with s <= {MONEY_SCALE} and p - s <= {MONEY_INTEGER_DIGITS}, or an integer type up to INT"
                " (warehouse NUMERIC(12,2))")
    if kind == "float":
        return (f"FLOAT, DOUBLE, DECIMAL(p,s) with p <= {DOUBLE_EXACT_DIGITS} or an integer type up to INT"
                " (warehouse DOUBLE PRECISION)")
    if kind == "timestamp":
        return "DATETIME(n), TIMESTAMP(n) or DATE (warehouse TIMESTAMP)"
    if kind == "date":
        return "DATE (warehouse DATE)"
    if kind == UPDATED_AT:
        return "DATETIME(n) or TIMESTAMP(n) (warehouse TIMESTAMP)"
    raise KeyError(f"no type contract for column kind {kind!r}")


def judge(kind: str, column_name: str, found: SourceType, warehouse: str, *, key: bool) -> Verdict:
    """Whether the warehouse holds every value of `found` without loss (MySQL / MariaDB types)."""
    expected = expected_type(kind, column_name, warehouse)
    t = found.data_type
    if key and found.nullable:
        return Verdict("critical", expected + ", NOT NULL", "a key column made nullable: a NULL key cannot be merged or joined")
    if kind in _FIXED_LENGTH:
        if t in _CHAR_TYPES and found.length is not None and found.length <= _FIXED_LENGTH[kind]:
            return Verdict(None, expected)
        return Verdict("critical", expected, f"{_WAREHOUSE[kind]} would truncate or reject longer values")
    if kind == "text":
        if t not in _TEXT_TYPES:
            return Verdict("critical", expected, "not a character type: values would change form as text")
        if warehouse == "redshift":
            limit = REDSHIFT_LONG_TEXT_BYTES if column_name in LONG_TEXT_COLUMNS else REDSHIFT_TEXT_BYTES
            if found.length is None or found.length > limit:
                return Verdict("critical", expected, f"longer than Redshift's VARCHAR({limit})")
            if found.octets is not None and found.octets > limit:
                # MySQL counts characters, Redshift bytes: only values heavy in multi-byte characters overflow.
                return Verdict("warning", expected, f"up to {found.octets} bytes in the source, VARCHAR({limit}) holds {limit}")
        return Verdict(None, expected)
    if kind in ("int", "money", "float"):
        if t in _INT_MAX:
            largest = _INT_MAX[t][1 if found.unsigned else 0]
            fits = {"int": largest <= INTEGER_MAX, "money": len(str(largest)) <= MONEY_INTEGER_DIGITS, "float": largest < 2**53}[kind]
            return Verdict(None if fits else "critical", expected, "" if fits else f"values up to {largest} overflow {_WAREHOUSE[kind]}")
        if t in ("decimal", "numeric") and found.precision is not None:
            p, s = found.precision, found.scale or 0
            if kind == "int":
                ok = s == 0 and p <= 9
                return Verdict(None if ok else "critical", expected, "" if ok else "would be rounded or overflow INTEGER")
            if kind == "money":
                if s > MONEY_SCALE:
                    return Verdict("critical", expected, f"{s} decimal places would be rounded to {MONEY_SCALE}")
                if p - s > MONEY_INTEGER_DIGITS:
                    return Verdict("critical", expected, f"{p - s} integer digits overflow NUMERIC(12,2) ({MONEY_INTEGER_DIGITS})")
                return Verdict(None, expected)
            ok = p <= DOUBLE_EXACT_DIGITS
            return Verdict(None if ok else "critical", expected, "" if ok else f"{p} digits are not exact in DOUBLE PRECISION")
        if kind == "float" and t in ("float", "double", "real", "double precision"):
            return Verdict(None, expected)
        return Verdict("critical", expected, f"{t} is not a type {_WAREHOUSE[kind]} holds losslessly")
    if kind in ("timestamp", UPDATED_AT):
        ok = t in ("datetime", "timestamp") or (kind == "timestamp" and t == "date")
        return Verdict(None if ok else "critical", expected, "" if ok else "not a date-time type: text or numbers would be parsed, or fail")
    if kind == "date":
        ok = t == "date"
        return Verdict(None if ok else "critical", expected, "" if ok else "DATE would drop a time of day, or not parse")
    raise KeyError(f"no type contract for column kind {kind!r}")


def sqlite_affinity(declared: str) -> str:
    """SQLite's column affinity of a declared type (https://sqlite.org/datatype3.html, 3.1)."""
    d = declared.upper()
    if "INT" in d:
        return "INTEGER"
    if any(s in d for s in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in d or not d:
        return "BLOB"
    if any(s in d for s in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def judge_sqlite(kind: str, column_name: str, found: SourceType, warehouse: str, *, key: bool) -> Verdict:
    """SQLite: declared types bound nothing, so only a conversion the affinity itself makes is a loss."""
    expected = expected_type(kind, column_name, warehouse)
    if key and found.nullable:
        return Verdict("critical", expected + ", NOT NULL", "a key column made nullable: a NULL key cannot be merged or joined")
    if kind in ("id", "zip", "state", "text") and sqlite_affinity(found.column_type) not in ("TEXT", "BLOB"):
        return Verdict("critical", f"TEXT affinity (CHAR, VARCHAR, TEXT); {expected}",
                       f"{sqlite_affinity(found.column_type)} affinity turns number-like text such as '01310' into a number")
    return Verdict(None, expected)


# ---------------------------------------------------------------------------------------------
# The checks of one table


def type_checks(conn: sa.Connection, table: SourceTable, types: dict[str, SourceType], warehouse: str) -> list[ContractCheck]:
    """One type check per catalog column present, plus updated_at's (a warning when it is absent)."""
    judge_fn = judge_sqlite if source_dialect(conn) == "sqlite" else judge
    columns: list[tuple[str, str, bool]] = [(c.name, c.kind, c.name in table.primary_key) for c in table.columns]
    checks = []
    for name, kind, key in columns + [(UPDATED_AT, UPDATED_AT, False)]:
        if name not in types:
            if name == UPDATED_AT:
                checks.append(_missing_updated_at(table))
            continue  # a missing catalog column is the column-name check's to report
        found = types[name]
        verdict = judge_fn(kind, name, found, warehouse, key=key)
        what = f"{table.name}.{name} ({kind}): the source type must be one the warehouse holds without loss: {verdict.expected}."
        check = ContractCheck(table.name, TYPE_CHECK, name, verdict.severity or "critical", what,
                              kwargs={"column": name, "type_list": [verdict.expected]}, observed=str(found))
        if verdict.severity:
            check.severity = verdict.severity
            check.description = f"{what} Found {found}: {verdict.reason}."
            check.unexpected = 1
            check.samples = [{"expected": verdict.expected, "found": str(found), "reason": verdict.reason}]
        checks.append(check)
    return checks


def _missing_updated_at(table: SourceTable) -> ContractCheck:
    return ContractCheck(
        table.name, COLUMN_EXISTS, UPDATED_AT, "warning",
        f"{table.name} has no {UPDATED_AT} change-tracking column: allowed (no incremental window for it), reported for a look.",
        kwargs={"column": UPDATED_AT}, samples=[f"missing: {UPDATED_AT}"], unexpected=1,
    )


def key_checks(conn: sa.Connection, table: SourceTable, types: dict[str, SourceType]) -> list[ContractCheck]:
    """The catalog key must be unique in the source: enforced by an index, or else counted.

    Without the check a key the source holds twice is caught only when both copies are in one
    delta; an incremental bringing one copy would promote it over the stored row.
    """
    key = table.primary_key
    if any(c not in types for c in key):
        return []  # a missing key column is the column-name check's to report
    expectation, column = (UNIQUE_COLUMN, key[0]) if len(key) == 1 else (UNIQUE_COMPOUND, list(key))
    kwargs = {"column": key[0]} if len(key) == 1 else {"column_list": list(key)}
    named = f"({', '.join(key)})"
    index = key_enforced(unique_indexes(conn, table.name), key, types)
    if index is not None:
        return [ContractCheck(table.name, expectation, column, "critical",
                              f"{table.name} {named} is unique in the source: enforced by its index {index}.",
                              kwargs=kwargs, observed=f"index {index}")]
    present = [c for c in table.staged_columns if c in types]
    count, samples = duplicate_keys(conn, table, present)
    missing_index = ContractCheck(
        table.name, expectation, column, "warning",
        f"{table.name} has no PRIMARY or UNIQUE index on {named}: every sync counts duplicates with a GROUP BY over the whole table.",
        kwargs=kwargs, samples=["no unique index"], unexpected=1,
    )
    duplicates = ContractCheck(
        table.name, expectation, column, "critical",
        f"{table.name} {named} must be unique in the source: a key held twice would be promoted from whichever copy a run extracts;"
        " the samples show each duplicated key with its rows.",
        kwargs=kwargs, samples=samples, unexpected=count, observed=count,
    )
    return [missing_index, duplicates]
