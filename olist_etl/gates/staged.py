"""Gate 1: validate this run's staged rows before anything reaches the typed delta tables.

Three steps, in the flow's order:
1. `check_parts` streams every part once (gzip + csv, one row in memory) for what only the raw
   file shows, the suites' `checked_on: parts` expectations: the header, each record's field count
   and broken quoting. Malformed records are written to runs/<run_id>/rejects/<table>.csv with
   part key and line; they block unless OLIST_MAX_REJECTED_ROWS allows them, and then the parts
   are rewritten without them (a broken quote hides an unknown number of rows: never allowed).
   A critical failure here ends the gate before any COPY.
2. olist_etl.load.load_landing COPYs the parts into all-text landing tables.
3. `validate_landing`: GX's SQL engine runs every other expectation of expectations/staged/ on the
   landing tables, inside the warehouse: null, regex, in-set and row counts on the text
   ("staged.<table>"), ranges, column pairs and numeric sets on a typed copy that casts only
   well-formed values ("staged.<table>.typed", staging_layer.landing_typed_<table>; a malformed one
   is NULL there and its regex check reports it).
Only after this gate passes does olist_etl.load.load_table cast the landing rows into the delta tables.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from olist_etl.gates import suites as suite_files
from olist_etl.gates.datasources import add_sql
from olist_etl.gates.docs import VALIDATION_WORKERS, gx_context, run_validation
from olist_etl.gates.part_scan import PartScan, scan_parts
from olist_etl.gates.results import SAMPLE_SIZE, GateFailure, GateResult, finish_gate, from_validation, gx_error
from olist_etl.load import landing_table, load_landing, staged_column_specs
from olist_etl.manifest import RunManifest, manifest_key, rejects_key
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render
from olist_etl.stage import StagedCsvReader
from olist_etl.staging import StagingArea, open_staging, read_json, write_json
from olist_etl.tables import TABLE_NAMES, get_table

GATE_NAME = "gate-staged-parts"
MAX_REJECTED_ENV = "OLIST_MAX_REJECTED_ROWS"  # Settings.max_rejected_rows comes from it; named in messages
# A full extract may shrink to a half or grow to double the previous full run before it is reported.
ROW_COUNT_CHANGE_FACTOR = 2
CLOCK_SKEW = timedelta(minutes=5)
# Business timestamps (a purchase, a delivery, a review) are the business's local wall clock, not
# UTC: "not after the run" allows the widest UTC offset there is (+14:00) on top of the skew.
WIDEST_UTC_OFFSET = timedelta(hours=14)
_GZIP_LEVEL = 1
HEADER_CHECK = "expect_table_columns_to_match_ordered_list"
FIELD_COUNT_CHECK = "expect_table_column_count_to_equal"
PARTS_CHECKS = (HEADER_CHECK, FIELD_COUNT_CHECK)

# Well-formed text of each kind the typed view casts (the suites' regex expectations use the same
# patterns), and the wide type it is cast to so an out-of-range value reaches its range check.
# Every text a pattern matches within its kind's MAX_LENGTHS must cast, else the typed copy raises
# and the whole typed suite ends as an error instead of naming the column: so a timestamp's date is
# a real calendar day (months' lengths, Feb 29 in leap years only, no year 0000), an int has at
# most 18 digits (BIGINT), a money value at most 32 integer digits (Redshift's NUMERIC(38,6)) and
# cents at most (NUMERIC(12,2) would round 10.505 to 10.51 unseen; trailing zeros lose nothing), and
# a float at most 31 characters with an exponent up to 277 (under 1e31 times 1e277 stays inside
# DOUBLE PRECISION; 1e-24 times 1e-277 stays above its smallest normal value).
# Numbers use `+` and a separate length check, not `{1,30}`: PostgreSQL's regex engine takes about
# six times as long on bounded repetitions (5.4 s against 0.9 s per million geolocation floats).
_YEAR = "([0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_MONTH_DAY = "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
_LEAP_YEAR = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_TIME = "([ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?)?"
PATTERNS = {
    "int": r"^-?[0-9]+$",
    "money": r"^-?[0-9]+(\.[0-9][0-9]?0*)?$",
    "float": r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?([0-9]{1,2}|[01][0-9]{2}|2[0-6][0-9]|27[0-7]))?$",
    "timestamp": f"^({_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}$",
}
# The longest text of each unbounded number pattern that is still castable; each such column's
# suite checks it with expect_column_value_lengths_to_be_between, and the typed copy casts by it.
MAX_LENGTHS = {"int": 18, "money": 32, "float": 31}
PATTERNS["date"] = PATTERNS["timestamp"]
WIDE_TYPES = {
    "postgresql": {"int": "BIGINT", "money": "NUMERIC", "float": "DOUBLE PRECISION", "timestamp": "TIMESTAMP", "date": "TIMESTAMP"},
    "redshift": {"int": "BIGINT", "money": "NUMERIC(38,6)", "float": "DOUBLE PRECISION", "timestamp": "TIMESTAMP", "date": "TIMESTAMP"},
}
# Compared as values, so GX checks them on the typed view.
_VALUE_COMPARISONS = (
    "expect_column_values_to_be_between",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
)

# csv's field size limit for long Kaggle reviews is raised in olist_etl.gates.part_scan (imported above).


@dataclass
class PartsCheck:
    """Step 1's outcome: the manifest to land (net of allowed rejected rows) and its results."""

    manifest: RunManifest
    results: list[dict] = field(default_factory=list)
    failures: list[GateFailure] = field(default_factory=list)


@dataclass
class StagedGate:
    result: GateResult
    manifest: RunManifest  # the manifest to load: row counts net of rejected rows, when any were allowed


def run_staged_gate(settings: Settings, manifest: RunManifest, *, previous_rows: dict[str, int] | None = None,
                    suites: dict[str, dict] | None = None) -> StagedGate:
    """The whole gate without Prefect: the structural pass, the landing COPY, GX on the landing tables."""
    parts = check_parts(settings, manifest, suites=suites)
    for table in sorted(parts.manifest.tables):
        load_landing(settings, parts.manifest, table)
    return validate_landing(settings, parts, previous_rows=previous_rows, suites=suites)


def _document(table: str, suites: dict[str, dict] | None) -> dict:
    document = (suites or {}).get(table) or suite_files.load_document("staged", table)
    suite_files.check_severities(document)
    return document


# ---------------------------------------------------------------------------------------------
# Step 1: the structural pass


def check_parts(settings: Settings, manifest: RunManifest, *, suites: dict[str, dict] | None = None) -> PartsCheck:
    started = time.perf_counter()
    area = open_staging(settings.staging_url)
    manifest = copy.deepcopy(manifest)  # the caller's copy stays as staged
    outcome = PartsCheck(manifest=manifest)
    unreadable = 0
    rejected_total = 0
    tables = sorted(manifest.tables.items())
    jobs = [(part.key, list(entry.columns)) for _table, entry in tables for part in entry.parts]
    part_rows = [part.rows for _table, entry in tables for part in entry.parts]
    with tempfile.TemporaryDirectory(prefix="olist-rejects-") as rejects_dir:
        scans = iter(scan_parts(area, settings.staging_url, jobs, part_rows, rejects_dir, SAMPLE_SIZE))
        for table, entry in tables:
            checks = [e for e in suite_files.entries(_document(table, suites), "parts") if e["type"] in PARTS_CHECKS]
            summary, failures = _check_table(area, manifest.run_id, table, [next(scans) for _ in entry.parts], checks)
            outcome.results.append(summary)
            outcome.failures.extend(failures)
            rejected_total += summary["rejected_rows"]
            unreadable += summary["unreadable_parts"]
    maximum = settings.max_rejected_rows
    if 0 < rejected_total <= maximum and not unreadable:
        # Allowed explicitly: the malformed-row failures become warnings and the parts lose those rows.
        for failure in outcome.failures:
            if failure.expectation == FIELD_COUNT_CHECK:
                failure.severity = "warning"
                failure.description += f" Allowed: {rejected_total} <= {MAX_REJECTED_ENV}={maximum}."
        if not any(f.critical for f in outcome.failures):
            outcome.manifest = _drop_rejected_rows(area, manifest)
            write_json(area, manifest_key(manifest.run_id), outcome.manifest.to_dict())
    if any(f.critical for f in outcome.failures):
        result = GateResult(name=GATE_NAME, success=False, failed_expectations=list(outcome.failures), results=list(outcome.results))
        finish_gate(settings, manifest.run_id, result, seconds=time.perf_counter() - started)
    return outcome


def _miss(check: dict, sample) -> None:
    check["unexpected_count"] += 1
    if len(check["sample_values"]) < SAMPLE_SIZE:
        check["sample_values"].append(sample)


def _check_table(area: StagingArea, run_id: str, table: str, scans: list[PartScan], entries: list[dict]) -> tuple[dict, list[GateFailure]]:
    """The table's header and field-count checks from its parts' scans, in part order; its
    malformed records written to runs/<run_id>/rejects/<table>.csv."""
    checks = [{"entry": e, "unexpected_count": 0, "sample_values": []} for e in entries]
    header_checks = [c for c in checks if c["entry"]["type"] == HEADER_CHECK]
    count_checks = [c for c in checks if c["entry"]["type"] == FIELD_COUNT_CHECK]
    rows = rejected = unreadable = 0
    for scan in scans:
        for check in header_checks:
            _check_header(check, scan.key, scan.header)
        rows += scan.rows
        rejected += scan.rejected
        unreadable += scan.unreadable
        for check in count_checks:
            check["unexpected_count"] += scan.rejected
            check["sample_values"].extend(scan.misses[: SAMPLE_SIZE - len(check["sample_values"])])
    if rejected:
        with area.writer(rejects_key(run_id, table)) as out:
            out.write(b"part,line,fields,expected_fields,row\n")
            for scan in scans:
                if scan.rejects_path:
                    with open(scan.rejects_path, "rb") as part_rejects:
                        shutil.copyfileobj(part_rejects, out)
    summaries, failures = [], []
    for check in checks:
        entry_ = check["entry"]
        meta = entry_["meta"]
        column = list(entry_["kwargs"].get("column_list", [])) or None
        summaries.append({"expectation": entry_["type"], "column": column, "severity": meta["severity"],
                          "success": check["unexpected_count"] == 0, "unexpected_count": check["unexpected_count"]})
        if check["unexpected_count"]:
            rejects = area.uri(rejects_key(run_id, table)) if entry_["type"] == FIELD_COUNT_CHECK else None
            failures.append(GateFailure(
                table=table, expectation=entry_["type"], column=column, severity=meta["severity"],
                unexpected_count=check["unexpected_count"], sample_values=check["sample_values"],
                description=meta.get("description", ""), rejects=rejects,
            ))
    summary = {"table": table, "suite": f"staged.{table}.parts", "success": not any(f.critical for f in failures),
               "rows": rows, "rejected_rows": rejected, "unreadable_parts": unreadable, "expectations": summaries}
    return summary, failures


def _check_header(check: dict, key: str, header: list[str]) -> None:
    expected = list(check["entry"]["kwargs"]["column_list"])
    if header == expected:
        return
    missing = [c for c in expected if c not in header]
    added = [c for c in header if c not in expected]
    sample: dict = {"part": key}
    if missing:
        sample["missing"] = missing
    if added:
        sample["added"] = added
    if not missing and not added:
        sample["order"] = header
    _miss(check, sample)


# ---------------------------------------------------------------------------------------------
# Step 3: GX on the landing tables


def split_suite(table: str, document: dict) -> tuple[dict, dict]:
    """The GX-evaluated expectations as two suites: on the landing text, and on its typed view."""
    text, typed = [], []
    for entry in suite_files.entries(document, None):
        values = entry["kwargs"].get("value_set")
        compared = entry["type"] in _VALUE_COMPARISONS or (isinstance(values, list) and any(not isinstance(v, str) for v in values))
        (typed if compared else text).append(entry)
    return (suite_files.subsuite(document, f"staged.{table}", text), suite_files.subsuite(document, f"staged.{table}.typed", typed))


def typed_table(table: str) -> str:
    return f"landing_typed_{get_table(table).name}"


def create_typed_table(settings: Settings, dialect: str, table: str, columns: list[str], *,
                       well_formed: frozenset[str] = frozenset()) -> str:
    """Materialize the typed copy of the landing table's `columns` (sql/warehouse/load/landing_typed.sql);
    only the columns the typed suite checks: every other regex and cast would be work for nothing.
    A column in `well_formed` is cast without its pattern guard (see well_formed_columns)."""

    from olist_etl.db import warehouse_engine
    from olist_etl.sqlfiles import statements

    for pattern in PATTERNS.values():
        if "'" in pattern:  # literals in the SQL; a constant, checked anyway
            raise RuntimeError(f"pattern {pattern!r} cannot be written into SQL as a literal")
    source = get_table(table)
    sql = render("warehouse/load/landing_typed.sql", dialect, landing=landing_table(table), typed=typed_table(table),
                 columns=[c for c in staged_column_specs(source) if c.name in columns], patterns=PATTERNS, max_lengths=MAX_LENGTHS,
                 wide_types=WIDE_TYPES[dialect], well_formed=sorted(well_formed))
    engine = warehouse_engine(settings)
    try:
        with engine.begin() as conn:
            for statement in statements(sql):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    return typed_table(table)


def well_formed_columns(table: str, text_summary: dict) -> frozenset[str]:
    """The columns whose every non-NULL landing value the text suite just proved well formed: its
    own regex (the cast pattern, on every row) and, for numbers, its own length check passed with
    no unexpected value. The typed copy casts these directly: the guard would re-run a pattern
    already known to match (the timestamp pattern is most of gate 1's time), with the same result."""
    checks = [e for e in text_summary.get("expectations", []) if e.get("success") and e.get("unexpected_count") == 0
              and not (e.get("kwargs") or {}).get("row_condition")]

    def passed(expectation: str, column: str, **kwargs) -> bool:
        return any(e["expectation"] == expectation and e["kwargs"].get("column") == column
                   and all(e["kwargs"].get(k) == v for k, v in kwargs.items()) for e in checks)

    names = set()
    for column in staged_column_specs(get_table(table)):
        if column.kind not in PATTERNS or not passed("expect_column_values_to_match_regex", column.name, regex=PATTERNS[column.kind]):
            continue
        if column.kind in MAX_LENGTHS and not passed("expect_column_value_lengths_to_be_between", column.name, max_value=MAX_LENGTHS[column.kind]):
            continue
        names.add(column.name)
    return frozenset(names)


def suite_parameters(manifest: RunManifest, table: str, previous: int | None) -> dict:
    # Source timestamps come from the database server's clock; a few minutes of skew is not bad
    # data. Naive UTC, as the landing timestamps are.
    created = manifest.created
    if created.tzinfo is not None:
        created = created.astimezone(timezone.utc).replace(tzinfo=None)
    run_time = created + CLOCK_SKEW
    return {
        "run_time": run_time,
        "business_run_time": run_time + WIDEST_UTC_OFFSET,
        "manifest_rows": manifest.tables[table].rows,
        "nonempty_min_rows": 1 if previous else 0,
        "previous_rows_low": previous // ROW_COUNT_CHANGE_FACTOR if previous else 0,
        "previous_rows_high": previous * ROW_COUNT_CHANGE_FACTOR if previous else None,
    }




def validate_landing(settings: Settings, parts: PartsCheck, *, previous_rows: dict[str, int] | None = None,
                     suites: dict[str, dict] | None = None) -> StagedGate:
    """GX on the landing tables load_landing filled; ends gate 1 with the structural results too."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    manifest = parts.manifest
    if previous_rows is None:
        previous_rows = previous_full_run_rows(settings) if manifest.mode == "full" else {}
    result = GateResult(name=GATE_NAME, success=False, failed_expectations=list(parts.failures), results=list(parts.results))
    run_time = datetime.now(timezone.utc)
    jobs = []
    for table in sorted(manifest.tables):
        parameters = suite_parameters(manifest, table, previous_rows.get(table))
        text, typed = split_suite(table, _document(table, suites))
        jobs.append((table, text, typed, parameters))
    # The largest tables first, so the pool does not end waiting on one of them.
    jobs.sort(key=lambda job: -manifest.tables[job[0]].rows)
    with ThreadPoolExecutor(max_workers=VALIDATION_WORKERS) as pool:
        outcomes = [outcome for outcomes_ in pool.map(lambda job: _validate_table(settings, manifest.run_id, run_time, *job), jobs)
                    for outcome in outcomes_]
    order = {name: index for index, name in enumerate(sorted(job[i]["name"] for job in jobs for i in (1, 2) if job[i]["expectations"]))}
    for summary, failures in sorted(outcomes, key=lambda outcome: order[outcome[0]["suite"]]):
        result.results.append(summary)
        result.failed_expectations.extend(failures)
    finish_gate(settings, manifest.run_id, result, seconds=time.perf_counter() - started)
    return StagedGate(result=result, manifest=manifest)


def _validate_table(settings: Settings, run_id: str, run_time: datetime, table: str, text: dict, typed: dict,
                    parameters: dict) -> list[tuple[dict, list[GateFailure]]]:
    """A table's text suite, then its typed suite on a copy cast by what the text suite proved."""
    outcomes = []
    well_formed: frozenset[str] = frozenset()
    if text["expectations"]:
        outcomes.append(_validate(settings, run_id, run_time, table, text, False, parameters))
        well_formed = well_formed_columns(table, outcomes[-1][0])
    if typed["expectations"]:
        outcomes.append(_validate(settings, run_id, run_time, table, typed, True, parameters, well_formed=well_formed))
    return outcomes


def _validate(settings: Settings, run_id: str, run_time: datetime, table: str, document: dict, typed: bool, parameters: dict,
              *, well_formed: frozenset[str] = frozenset()) -> tuple[dict, list[GateFailure]]:
    """One suite on the landing table (or its typed copy); any GX exception is a gx_error failure."""
    from olist_etl.db import dialect_of

    datasource = None
    try:
        suite = suite_files.suite_from_dict(document)
        context = gx_context(settings)
        datasource = add_sql(context, "landing", settings.warehouse_url)
        if typed:
            name = create_typed_table(settings, dialect_of(settings.warehouse_url), table, suite_columns(document), well_formed=well_formed)
        else:
            name = landing_table(table)
        asset = datasource.add_table_asset(name=name, table_name=name, schema_name="staging_layer")
        validation = run_validation(
            context, gate=GATE_NAME, table=table, run_id=run_id, run_time=run_time,
            batch_definition=asset.add_batch_definition_whole_table("whole-table"), suite=suite,
            expectation_parameters=parameters,
        )
    except Exception as err:
        failure = gx_error(table, err, settings)
        return {"table": table, "suite": document["name"], "success": False, "error": failure.error}, [failure]
    finally:
        if datasource is not None:
            datasource.get_engine().dispose()
    return from_validation(table, document["name"], validation, len(document["expectations"]), settings)


def suite_columns(document: dict) -> list[str]:
    """The columns a suite's expectations name, in first-use order."""
    names: list[str] = []
    for entry in document["expectations"]:
        kwargs = entry["kwargs"]
        for name in [kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *(kwargs.get("column_list") or [])]:
            if name and name not in names:
                names.append(name)
    return names


def _drop_rejected_rows(area: StagingArea, manifest: RunManifest) -> RunManifest:
    """Rewrite each part that has malformed rows without them; update the manifest's counts."""
    for table, entry in manifest.tables.items():
        width = len(entry.columns)
        total = 0
        for part in entry.parts:
            kept = 0
            bad = False
            with tempfile.TemporaryFile() as spool:
                with area.reader(part.key) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
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
                    with area.writer(part.key) as target:
                        shutil.copyfileobj(spool, target)
                    part.rows, part.bytes = kept, size
            total += part.rows
        entry.rows = total
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
    key = manifest_key(run_id)
    if not area.exists(key):
        return {}
    previous = RunManifest.from_dict(read_json(area, key))
    return {table: entry.rows for table, entry in previous.tables.items() if table in TABLE_NAMES}
