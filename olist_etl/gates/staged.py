"""Gate 1: validate this run's staged CSV parts before anything is loaded.

The suites are versioned GX 1.x suite files, expectations/staged/<table>.json (they load through
olist_etl.gates.delta.suite_from_dict, so GX accepts every type and kwarg in them). GX itself does not
evaluate them: its pandas engine needs a whole batch in memory and its SQL engine needs the rows
loaded already. Instead each part is streamed once through gzip and the csv module, row by row,
and every expectation is evaluated with GX's semantics (nulls skipped by value checks, regex
search, `$PARAMETER` suite parameters) into results of the same shape gate 2 produces. Memory is
one row plus a few samples per expectation, whatever the extract size.

Malformed rows (a field count that differs from the header) are counted, written to
runs/<run_id>/rejects/<table>.csv in the staging area with part key and line number, and block
the run unless settings.max_rejected_rows (OLIST_MAX_REJECTED_ROWS) allows them; when allowed, the
affected parts are rewritten without those rows and the manifest's counts follow, so the load and
the promote reconciliation see exactly the rows that passed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable


from olist_etl.resources import resource_dir
from olist_etl.settings import Settings
from olist_etl.staging import StagingArea, open_staging, read_json, write_json
from olist_etl.tables import TABLE_NAMES, get_table
from olist_etl.stage import NULL_MARKER, StagedCsvReader
from olist_etl.gates.delta import (
    SAMPLE_SIZE,
    SEVERITIES,
    GateFailed,
    GateResult,
    run_logger,
    describe_failure,
    render_to_data_docs,
    write_gate_result,
)

GATE_NAME = "gate-staged-parts"
SOURCE_GATE_NAME = "gate-source-columns"
MAX_REJECTED_ENV = "OLIST_MAX_REJECTED_ROWS"  # Settings.max_rejected_rows comes from it; named in messages
# A full extract may shrink to a half or grow to double the previous full run before it is reported.
ROW_COUNT_CHANGE_FACTOR = 2
CLOCK_SKEW = timedelta(minutes=5)
# Business timestamps (a purchase, a delivery, a review) are the business's local wall clock, not
# UTC: "not after the run" allows the widest UTC offset there is (+14:00) on top of the skew.
WIDEST_UTC_OFFSET = timedelta(hours=14)
_GZIP_LEVEL = 1

# Kaggle fields can exceed csv's default 128 KiB limit; a long review must not read as malformed.
csv.field_size_limit(1 << 24)


def staged_suite_path(table: str) -> Path:
    get_table(table)
    return resource_dir("expectations") / "staged" / f"{table}.json"


def load_staged_suite(table: str) -> dict:
    document = json.loads(staged_suite_path(table).read_text(encoding="utf-8"))
    for index, entry in enumerate(document["expectations"]):
        if (entry.get("meta") or {}).get("severity") not in SEVERITIES:
            raise ValueError(f"suite {document['name']}: expectation #{index} ({entry.get('type')}) needs meta.severity in {SEVERITIES}")
    return document


def rejects_key(run_id: str, table: str) -> str:
    return f"runs/{run_id}/rejects/{table}.csv"


# ---------------------------------------------------------------------------------------------
# Value parsing with the staged file's conventions: olist_etl.stage.StagedCsvReader gives None for a
# NULL (the unquoted marker) and '' for an empty string, which value checks evaluate like any text.


def _parse_timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    from dateutil import parser

    try:
        return parser.parse(text)
    except (ValueError, OverflowError):
        return None


def _parse_number(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _comparable(bound: Any) -> Any:
    """A suite bound as the type values are compared in: numbers as Decimal, text as a timestamp."""
    if bound is None:
        return None
    if isinstance(bound, datetime):
        return bound.replace(tzinfo=None) if bound.tzinfo else bound
    if isinstance(bound, (int, float)):
        return Decimal(str(bound))
    parsed = _parse_timestamp(str(bound))
    if parsed is None:
        raise ValueError(f"bound {bound!r} is neither a number nor a timestamp")
    return parsed.replace(tzinfo=None) if parsed.tzinfo else parsed


# ---------------------------------------------------------------------------------------------
# One expectation's running result


@dataclass
class _Check:
    table: str
    entry: dict
    kwargs: dict
    unexpected: int = 0

    def __post_init__(self):
        self.samples: list = []
        self.observed: Any = None  # what data docs show as observed (the header read, the row count)
        self.severity = self.entry["meta"]["severity"]

    @property
    def type(self) -> str:
        return self.entry["type"]

    @property
    def column(self):
        kw = self.kwargs
        if "column" in kw:
            return kw["column"]
        if "column_A" in kw:
            return [kw["column_A"], kw["column_B"]]
        return None

    def miss(self, sample: Any) -> None:
        self.unexpected += 1
        if len(self.samples) < SAMPLE_SIZE and sample not in self.samples:
            self.samples.append(sample)

    def summary(self) -> dict:
        # kwargs, description and samples let render_to_data_docs draw the same page GX would.
        return {
            "expectation": self.type,
            "column": self.column,
            "severity": self.severity,
            "success": self.unexpected == 0,
            "unexpected_count": self.unexpected,
            "kwargs": json.loads(json.dumps(self.kwargs, default=str)),
            "description": self.entry["meta"].get("description", ""),
            "sample_values": self.samples,
            "observed_value": self.observed,
        }

    def failure(self) -> dict:
        return {
            "table": self.table,
            "expectation": self.type,
            "column": self.column,
            "severity": self.severity,
            "unexpected_count": self.unexpected,
            "sample_values": self.samples,
            "description": self.entry["meta"].get("description", ""),
        }


def _resolve(value: Any, parameters: dict) -> Any:
    """GX 1.x suite parameters: {"$PARAMETER": name} is replaced by the run's value."""
    if isinstance(value, dict) and set(value) == {"$PARAMETER"}:
        name = value["$PARAMETER"]
        if name not in parameters:
            raise KeyError(f"suite parameter {name!r} has no value for this run")
        return parameters[name]
    return value


def _row_predicate(check: _Check, index: dict[str, int]) -> Callable[[list[str]], None] | None:
    """A function fed every well-formed row that records misses; None for table-level checks."""
    kw = check.kwargs
    kind = check.type
    if kind == "expect_column_values_to_not_be_null":
        i = index[kw["column"]]

        def not_null(row):
            if row[i] is None:
                check.miss(None)

        return not_null
    if kind == "expect_column_values_to_match_regex":
        i, pattern = index[kw["column"]], re.compile(kw["regex"])

        def regex(row):
            if row[i] is not None and not pattern.search(row[i]):
                check.miss(row[i])

        return regex
    if kind == "expect_column_values_to_be_in_set":
        i = index[kw["column"]]
        numeric = all(isinstance(v, (int, float)) for v in kw["value_set"])
        allowed = {Decimal(str(v)) for v in kw["value_set"]} if numeric else set(kw["value_set"])

        def in_set(row):
            value = row[i]
            if value is None:
                return
            key = _parse_number(value) if numeric else value
            if key not in allowed:
                check.miss(value)

        return in_set
    if kind == "expect_column_values_to_be_dateutil_parseable":
        i = index[kw["column"]]

        def parseable(row):
            if row[i] is not None and _parse_timestamp(row[i]) is None:
                check.miss(row[i])

        return parseable
    if kind == "expect_column_values_to_be_between":
        i = index[kw["column"]]
        low, high = _comparable(kw.get("min_value")), _comparable(kw.get("max_value"))
        strict_min, strict_max = kw.get("strict_min", False), kw.get("strict_max", False)
        parse = _parse_timestamp if isinstance(low or high, datetime) else _parse_number

        def between(row):
            if row[i] is None:
                return
            value = parse(row[i])
            if value is None:  # unparseable: the parse check of the same column reports it
                return
            if isinstance(value, datetime) and value.tzinfo:
                value = value.astimezone(timezone.utc).replace(tzinfo=None)
            if low is not None and (value <= low if strict_min else value < low):
                check.miss(row[i])
            elif high is not None and (value >= high if strict_max else value > high):
                check.miss(row[i])

        return between
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = index[kw["column_A"]], index[kw["column_B"]]
        or_equal = kw.get("or_equal", False)

        def pair(row):
            if row[a] is None or row[b] is None:  # ignore_row_if: either_value_is_missing
                return
            va, vb = _parse_timestamp(row[a]), _parse_timestamp(row[b])
            if va is None or vb is None:
                return
            if not (va >= vb if or_equal else va > vb):
                check.miss([row[a], row[b]])

        return pair
    if kind in ("expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list", "expect_table_column_count_to_equal",
                "expect_table_row_count_to_equal", "expect_table_row_count_to_be_between"):
        return None
    raise ValueError(f"gate 1 cannot evaluate {kind!r} while streaming; put it in a delta suite instead")


# ---------------------------------------------------------------------------------------------
# The gate


@dataclass
class StagedGate:
    result: GateResult
    manifest: dict  # the manifest to load: row counts net of rejected rows, when any were allowed


def run_staged_gate(
    settings: Settings,
    manifest: dict,
    *,
    previous_rows: dict[str, int] | None = None,
    suites: dict[str, dict] | None = None,
) -> StagedGate:
    """The gate's work, callable without Prefect.

    previous_rows: each table's row count in the previous promoted full run; looked up in the
    warehouse and staging area when not given (full runs only; an incremental delta has no baseline).
    """
    max_rejected_rows = settings.max_rejected_rows
    run_id = manifest["run_id"]
    area = open_staging(settings.staging_url)
    if previous_rows is None:
        previous_rows = previous_full_run_rows(settings) if manifest.get("mode") == "full" else {}
    # Source timestamps come from the database server's clock; a few minutes of skew is not bad data.
    run_time = datetime.fromisoformat(manifest["created_at"]) + CLOCK_SKEW
    results, failures = [], []
    manifest = json.loads(json.dumps(manifest))  # the caller's copy stays as staged
    rejected_total = 0
    for table, entry in sorted(manifest["tables"].items()):
        suite = (suites or {}).get(table) or load_staged_suite(table)
        previous = (previous_rows or {}).get(table)
        parameters = {
            "run_time": run_time,
            "business_run_time": run_time + WIDEST_UTC_OFFSET,
            "manifest_rows": entry["rows"],
            "nonempty_min_rows": 1 if previous else 0,
            "previous_rows_low": previous // ROW_COUNT_CHANGE_FACTOR if previous else 0,
            "previous_rows_high": previous * ROW_COUNT_CHANGE_FACTOR if previous else None,
        }
        summary, table_failures, rejected = _validate_table(area, run_id, table, entry, suite, parameters)
        results.append(summary)
        failures.extend(table_failures)
        rejected_total += rejected
    unreadable = sum(r["unreadable_parts"] for r in results)
    # A part cut short by a broken quote hides an unknown number of rows: no threshold can allow that.
    if 0 < rejected_total <= max_rejected_rows and not unreadable:
        # Allowed explicitly: the malformed-row failures become warnings and the parts lose those rows.
        for failure in failures:
            if failure["expectation"] == "expect_table_column_count_to_equal":
                failure["severity"] = "warning"
                failure["description"] += f" Allowed: {rejected_total} <= {MAX_REJECTED_ENV}={max_rejected_rows}."
        if not any(f["severity"] == "critical" for f in failures):
            manifest = _drop_rejected_rows(area, manifest)
            write_json(area, f"runs/{run_id}/manifest.json", manifest)
    success = not any(f["severity"] == "critical" for f in failures)
    result = GateResult(name=GATE_NAME, success=success, failed_expectations=failures, results=results)
    result.data_docs = render_to_data_docs(settings, run_id, result, datetime.fromisoformat(manifest["created_at"]))
    failures = result.failed_expectations
    success = result.success
    write_gate_result(settings, run_id, result)
    logger = run_logger()
    for failure in failures:
        (logger.error if failure["severity"] == "critical" else logger.warning)("%s: %s", GATE_NAME, describe_failure(failure))
    logger.info("%s over %d table(s): %s", GATE_NAME, len(results), "passed" if success else "FAILED")
    if not success:
        raise GateFailed(result)
    return StagedGate(result=result, manifest=manifest)


def _validate_table(area: StagingArea, run_id: str, table: str, entry: dict, suite: dict, parameters: dict) -> tuple[dict, list[dict], int]:
    expected = list(entry["columns"])
    index = {name: i for i, name in enumerate(expected)}
    entries = [e for e in suite["expectations"] if e["meta"].get("checked_on") != "source"]
    checks = [_Check(table, e, {k: _resolve(v, parameters) for k, v in e["kwargs"].items()}) for e in entries]
    by_type = {}
    for check in checks:
        by_type.setdefault(check.type, []).append(check)
    row_checks = []
    for check in checks:
        if check.type.startswith("expect_column") and any(c not in index for c in _columns_needed(check)):
            # The suite names a column the manifest does not have: the header check reports the drift.
            continue
        predicate = _row_predicate(check, index)
        if predicate is not None:
            row_checks.append(predicate)
    header_checks = by_type.get("expect_table_columns_to_match_ordered_list", [])
    count_checks = by_type.get("expect_table_column_count_to_equal", [])
    typed = _typed_columns(table, index)
    empty_checks: dict[str, _Check] = {}
    rows = 0
    rejected = 0
    headers_ok = True
    unreadable = 0  # parts cut short by a csv error: their remaining rows cannot be counted
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="") as rejects_file:
        rejects = csv.writer(rejects_file, lineterminator="\n")
        rejects.writerow(["part", "line", "fields", "expected_fields", "row"])
        for part in entry["parts"]:
            key = part["key"]
            with area.reader(key) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
                reader = StagedCsvReader(text)
                try:
                    header = next(reader, None) or []
                except csv.Error as err:
                    header = [f"<unreadable header: {err}>"]
                for check in header_checks:
                    _check_header(check, key, header)
                if header != expected:
                    headers_ok = False
                    continue  # rows under a wrong header cannot be read by name; the header check blocks
                while True:
                    try:
                        row = next(reader)
                    except StopIteration:
                        break
                    except csv.Error as err:
                        # A broken quote: everything up to here was read; the rest of the part is unreadable.
                        rejected += 1
                        unreadable += 1
                        rejects.writerow([key, reader.line_num, "", len(expected), f"csv error: {err}"])
                        for check in count_checks:
                            check.miss({"part": key, "line": reader.line_num, "error": str(err)})
                        break
                    if len(row) != len(expected):
                        rejected += 1
                        rejects.writerow([key, reader.line_num, len(row), len(expected), json.dumps(row, ensure_ascii=False)])
                        for check in count_checks:
                            check.miss({"part": key, "line": reader.line_num, "fields": len(row)})
                        continue
                    rows += 1
                    if "" in row:
                        for i, name in typed:
                            if row[i] == "":
                                _empty_value_check(empty_checks, checks, table, name).miss({"part": key, "line": reader.line_num, "value": ""})
                    for predicate in row_checks:
                        predicate(row)
        if rejected:
            rejects_file.seek(0)
            with area.writer(rejects_key(run_id, table)) as out:
                for line in rejects_file:
                    out.write(line.encode("utf-8"))
    for check in by_type.get("expect_table_row_count_to_equal", []) + by_type.get("expect_table_row_count_to_be_between", []):
        check.observed = rows
    for check in by_type.get("expect_table_row_count_to_equal", []):
        # Reconciliation: well-formed plus rejected rows are what the extract wrote.
        if headers_ok and rows + rejected != check.kwargs["value"]:
            check.miss({"rows_in_parts": rows + rejected, "manifest_rows": check.kwargs["value"]})
    for check in by_type.get("expect_table_row_count_to_be_between", []):
        low, high = check.kwargs.get("min_value"), check.kwargs.get("max_value")
        if (low is not None and rows < low) or (high is not None and rows > high):
            check.miss({"rows": rows, "min_value": low, "max_value": high})
    failures = [c.failure() for c in checks if c.unexpected]
    for failure in failures:
        if failure["expectation"] == "expect_table_column_count_to_equal":
            failure["rejects"] = area.uri(rejects_key(run_id, table))
    summary = {
        "table": table,
        "suite": suite["name"],
        "success": not any(f["severity"] == "critical" for f in failures),
        "rows": rows,
        "rejected_rows": rejected,
        "unreadable_parts": unreadable,
        "expectations": [c.summary() for c in checks],
    }
    return summary, failures, rejected


# Catalog kinds whose staged text must parse: '' there is a bad value (NULL is the marker).
_TYPED_KINDS = ("int", "money", "float", "timestamp", "date")


def _typed_columns(table: str, index: dict[str, int]) -> list[tuple[int, str]]:
    spec = get_table(table)
    names = [c.name for c in spec.columns if c.kind in _TYPED_KINDS] + ["updated_at"]
    return [(index[name], name) for name in names if name in index]


def _empty_value_check(found: dict[str, _Check], checks: list[_Check], table: str, column: str) -> _Check:
    """The check that reports '' in a number or timestamp column, made (and listed) on first use."""
    if column not in found:
        entry = {
            "type": "expect_column_values_to_not_match_regex",
            "kwargs": {"column": column, "regex": "^$"},
            "meta": {"severity": "critical", "description": (
                f"An empty string is not a number or a timestamp; a NULL is staged as the unquoted {NULL_MARKER}. "
                "Samples name the part and line.")},
        }
        found[column] = _Check(table, entry, dict(entry["kwargs"]))
        checks.append(found[column])
    return found[column]


def _columns_needed(check: _Check) -> list[str]:
    column = check.column
    if column is None:
        return []
    return [column] if isinstance(column, str) else list(column)


def _check_header(check: _Check, key: str, header: list[str]) -> None:
    expected = list(check.kwargs["column_list"])
    if check.observed is None or header != expected:
        check.observed = header
    if header == expected:
        return
    missing = [c for c in expected if c not in header]
    added = [c for c in header if c not in expected]
    sample = {"part": key}
    if missing:
        sample["missing"] = missing
    if added:
        sample["added"] = added
    if not missing and not added:
        sample["order"] = header
    check.miss(sample)


def _drop_rejected_rows(area: StagingArea, manifest: dict) -> dict:
    """Rewrite each part that has malformed rows without them; update the manifest's counts."""
    for table, entry in manifest["tables"].items():
        width = len(entry["columns"])
        total = 0
        for part in entry["parts"]:
            kept = 0
            bad = False
            with tempfile.TemporaryFile() as spool:
                with area.reader(part["key"]) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
                    with gzip.GzipFile(fileobj=spool, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as gz:
                        out = io.TextIOWrapper(gz, encoding="utf-8", newline="")
                        # Records are copied as staged: re-encoding parsed fields would lose
                        # which ones were quoted, i.e. NULL versus a value equal to the marker.
                        reader = StagedCsvReader(text)
                        next(reader)
                        out.write(reader.raw)
                        while True:
                            try:
                                row = next(reader)
                            except StopIteration:
                                break
                            except csv.Error:
                                bad = True
                                break
                            if len(row) != width:
                                bad = True
                                continue
                            out.write(reader.raw)
                            kept += 1
                        out.flush()
                        out.detach()
                if bad:
                    size = spool.tell()
                    spool.seek(0)
                    with area.writer(part["key"]) as target:
                        shutil.copyfileobj(spool, target)
                    part["rows"], part["bytes"] = kept, size
            total += part["rows"]
        entry["rows"] = total
    return manifest


def previous_full_run_rows(settings: Settings) -> dict[str, int]:
    """Row counts per table of the last promoted full run, from its manifest; {} when there is none."""
    import sqlalchemy as sa

    from olist_etl.db import warehouse_engine

    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("runs", schema="etl_control"):
                return {}
            run_id = conn.execute(
                sa.text("select run_id from etl_control.runs where mode = 'full' and status = 'promoted' order by finished_at desc limit 1")
            ).scalar()
    finally:
        engine.dispose()
    if run_id is None:
        return {}
    area = open_staging(settings.staging_url)
    key = f"runs/{run_id}/manifest.json"
    if not area.exists(key):
        return {}
    previous = read_json(area, key)
    return {table: int(entry["rows"]) for table, entry in previous["tables"].items() if table in TABLE_NAMES}


def validate_source_columns(settings: Settings, run_id: str) -> GateResult:
    """Before extracting: every source table's live columns must be its suite's column set.

    The extract selects the catalog's columns by name, so a dropped column would fail it with a SQL
    error and an added one would be silently left behind; checked first, both are named.
    """
    return run_source_columns_gate(settings, run_id)


def run_source_columns_gate(settings: Settings, run_id: str) -> GateResult:
    """Column names (the suites' checked_on=source entries), then the type contract and key
    uniqueness of olist_etl/source/contract.py, one result entry per table."""
    import sqlalchemy as sa

    from olist_etl.db import dialect_of, source_engine
    from olist_etl.source import contract
    from olist_etl.tables import UPDATED_AT

    # Text capacity differs between the warehouses; an unresolved URL is the embedded PostgreSQL.
    warehouse = dialect_of(settings.warehouse_url) if settings.warehouse_url is not None else "postgresql"
    engine = source_engine(settings)
    results, failures = [], []
    try:
        inspector = sa.inspect(engine)
        with engine.connect() as conn:
            for table in TABLE_NAMES:
                checks: list = []
                for entry in load_staged_suite(table)["expectations"]:
                    if entry["meta"].get("checked_on") != "source":
                        continue
                    check = _Check(table, entry, dict(entry["kwargs"]))
                    expected = list(check.kwargs["column_set"])
                    try:
                        actual = [c["name"] for c in inspector.get_columns(table)]
                    except sa.exc.NoSuchTableError:
                        actual = []
                    check.observed = actual
                    # A table without updated_at is allowed (full extracts only): the contract
                    # reports it as a warning, never as drift.
                    missing = [c for c in expected if c not in actual and not (c == UPDATED_AT and actual)]
                    added = [c for c in actual if c not in expected]
                    for name in missing:
                        check.miss(f"missing: {name}")
                    for name in added:
                        check.miss(f"added: {name}")
                    checks.append(check)
                types = contract.read_column_types(conn, table)
                if types:
                    spec = get_table(table)
                    checks.extend(contract.type_checks(conn, spec, types, warehouse))
                    checks.extend(contract.key_checks(conn, spec, types))
                table_failures = [c.failure() for c in checks if c.unexpected]
                success = not any(f["severity"] == "critical" for f in table_failures)
                results.append({"table": table, "suite": f"staged.{table}", "success": success, "expectations": [c.summary() for c in checks]})
                failures.extend(table_failures)
    finally:
        engine.dispose()
    success = not any(f["severity"] == "critical" for f in failures)
    result = GateResult(name=SOURCE_GATE_NAME, success=success, failed_expectations=failures, results=results)
    result.data_docs = render_to_data_docs(settings, run_id, result)
    success = result.success
    write_gate_result(settings, run_id, result)
    for failure in result.failed_expectations:
        (run_logger().error if failure["severity"] == "critical" else run_logger().warning)("%s: %s", SOURCE_GATE_NAME, describe_failure(failure))
    if not success:
        raise GateFailed(result)
    return result
