"""Run history: every sync recorded in etl_control.runs, and the quarantined batches of blocked runs.

A promoted run is recorded by olist_etl/merge.py inside the promote transaction (run_params builds its
row); a blocked, failed or cancelled run is recorded here after the fact, in its own small
transaction, and a failure to record it is logged, never raised, so it cannot hide the run's own
error. `olist-etl runs` and `olist-etl quarantine list|show` read what this module and
olist_etl/report.py (quarantine_run, the summary) wrote. No Prefect import: the CLI's read commands
stay fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Iterator

import sqlalchemy as sa

from olist_etl import console
from olist_etl.db import dialect_of, warehouse_engine
from olist_etl.manifest import QUARANTINE_PREFIX, quarantine_prefix
from olist_etl.settings import Settings, mask_url
from olist_etl.sqlfiles import render, statements
from olist_etl.staging import open_staging, read_json

log = logging.getLogger(__name__)

RUNS_FILE = "warehouse/merge/runs.sql"
RUN_RECORDED_FILE = "warehouse/control/run_recorded.sql"
LIST_RUNS_FILE = "warehouse/control/list_runs.sql"
PHASES = ("extract", "gates", "load", "merge")
# Widths of the etl_control.runs columns (sql/warehouse/ddl/etl_control.sql); Redshift counts bytes.
ERROR_BYTES = 4096
QUARANTINE_KEY_BYTES = 1024
# The columns `olist-etl runs` reads; all of them exist once a sync has migrated the warehouse.
RUN_COLUMNS = (
    "run_id", "mode", "status", "started_at", "finished_at", "rows_promoted", "rows_extracted",
    "phase_seconds", "failed_gate", "critical_failures", "quarantine_key", "error_message",
)
# Run ids are made by olist_etl/manifest.py new_run_id; anything else could walk out of quarantine/.
_RUN_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)


class RunsError(RuntimeError):
    """A run-history question that cannot be answered (unknown run, no history yet): one line."""


def utcnow() -> datetime:
    """Naive UTC, as the warehouse stores timestamps (TIMESTAMP WITHOUT TIME ZONE)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class RunClock:
    """When a run started and the seconds it spent per phase (a phase can be entered several times:
    the gates run before the extract, after it and after the load)."""

    def __init__(self) -> None:
        self.started_at = utcnow()
        self._seconds: dict[str, float] = {}
        self._running: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if name not in PHASES:
            raise ValueError(f"unknown run phase {name!r}; expected one of {', '.join(PHASES)}")
        started = time.perf_counter()
        self._running[name] = started
        try:
            with console.phase(name):  # "gates: started", "... done in 4.1s" on the terminal
                yield
        finally:
            del self._running[name]
            self._seconds[name] = self._seconds.get(name, 0.0) + time.perf_counter() - started

    def seconds(self) -> dict[str, float]:
        """Seconds per phase so far, a phase still running included (the promote records its own
        merge time from inside its transaction)."""
        now = time.perf_counter()
        out = dict(self._seconds)
        for name, started in self._running.items():
            out[name] = out.get(name, 0.0) + now - started
        return {name: round(out[name], 3) for name in PHASES if name in out}


def gate_outcome(summary_gates: list[dict]) -> tuple[str | None, int]:
    """(the first gate that failed, its run's number of critical failed expectations) from a
    summary's "gates" list."""
    failed_gate = next((g["name"] for g in summary_gates if not g.get("success")), None)
    critical = sum(1 for g in summary_gates for f in g.get("failed_expectations") or [] if f.get("severity") == "critical")
    return failed_gate, critical


def _clip(text: str | None, max_bytes: int) -> str | None:
    """At most max_bytes of UTF-8 (Redshift's VARCHAR counts bytes), cut on a character boundary."""
    if text is None:
        return None
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode("utf-8", errors="ignore") + "..."


def error_line(err: BaseException, settings: Settings | None = None) -> str:
    """The error as one line: its class and message (a database error's first line), with the
    configured URLs masked and any other URL's password replaced by ***."""
    cause = getattr(err, "orig", None) if isinstance(err, sa.exc.DBAPIError) else None
    text = str(cause if cause is not None else err)
    if settings is not None:
        urls = [settings.source_url.reveal(), settings.warehouse_url.reveal() if settings.warehouse_url else ""]
        for url in urls:
            if url:
                text = text.replace(url, mask_url(url))
    text = _URL_PASSWORD.sub(r"\1:***@", text)
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if secret and len(secret) >= 8:
        text = text.replace(secret, "***")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = f"{err.__class__.__name__}: {first}" if first else err.__class__.__name__
    return _clip(line, ERROR_BYTES)


def run_params(
    run_id: str,
    mode: str | None,
    status: str,
    started_at: datetime | None,
    finished_at: datetime | None,
    *,
    rows_promoted: int | None = None,
    rows_extracted: int | None = None,
    phase_seconds: dict[str, float] | None = None,
    failed_gate: str | None = None,
    critical_failures: int | None = None,
    quarantine_key: str | None = None,
    error_message: str | None = None,
) -> dict:
    """Every bound parameter of sql/warehouse/merge/runs.sql."""
    return {
        "run_id": run_id,
        "mode": mode,
        "status": status,
        "started_at": started_at,
        "finished_at": finished_at,
        "rows_promoted": rows_promoted,
        "rows_extracted": rows_extracted,
        "phase_seconds": json.dumps(phase_seconds, sort_keys=True) if phase_seconds is not None else None,
        "failed_gate": failed_gate,
        "critical_failures": critical_failures,
        "quarantine_key": _clip(quarantine_key, QUARANTINE_KEY_BYTES),
        "error_message": _clip(error_message, ERROR_BYTES),
    }


def record_run(settings: Settings, params: dict) -> bool:
    """Record a run that was not promoted, in its own transaction; returns whether a row was written.

    Insert-only: a run already recorded (promoted, then failed in a later step) keeps its row.
    Never raises: the caller is handling the run's own error, which must stay the one reported.
    """
    try:
        dialect = dialect_of(settings.warehouse_url)
        engine = warehouse_engine(settings)
        try:
            with engine.begin() as conn:
                exists = statements(render(RUN_RECORDED_FILE, dialect))[0]
                if conn.execute(sa.text(exists), {"run_id": params["run_id"]}).first() is not None:
                    return False
                for statement in statements(render(RUNS_FILE, dialect)):
                    conn.execute(sa.text(statement), params)
            return True
        finally:
            engine.dispose()
    except Exception as err:  # noqa: BLE001 - recording is best effort by design (see the docstring)
        log.warning("could not record run %s as %s in etl_control.runs: %s", params.get("run_id"), params.get("status"), error_line(err, settings))
        return False


# ---------------------------------------------------------------------------------------------
# olist-etl runs


def list_runs(settings: Settings, limit: int = 20) -> list[dict]:
    """The latest `limit` runs, newest first, as JSON-ready dicts."""
    if limit < 1:
        raise RunsError(f"--limit must be at least 1, got {limit}")
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("runs", schema="etl_control"):
                return []
            present = {c["name"] for c in sa.inspect(conn).get_columns("runs", schema="etl_control")}
            missing = [c for c in RUN_COLUMNS if c not in present]
            if missing:
                raise RunsError(
                    f"etl_control.runs lacks the columns {', '.join(missing)}: it predates the run history; "
                    "the next `olist-etl sync` adds them"
                )
            sql = statements(render(LIST_RUNS_FILE, dialect_of(settings.warehouse_url)))[0]
            rows = conn.execute(sa.text(sql), {"limit": limit}).mappings().all()
    finally:
        engine.dispose()
    return [_run_dict(row) for row in rows]


def _run_dict(row) -> dict:
    started, finished = row["started_at"], row["finished_at"]
    try:
        phases = json.loads(row["phase_seconds"]) if row["phase_seconds"] else None
    except ValueError:
        phases = None  # written by hand or truncated: the run is still listed
    return {
        "run_id": row["run_id"],
        "mode": row["mode"],
        "status": row["status"],
        "started_at": started.isoformat() if started else None,
        "finished_at": finished.isoformat() if finished else None,
        "duration_seconds": round((finished - started).total_seconds(), 3) if started and finished else None,
        "rows_extracted": row["rows_extracted"],
        "rows_promoted": row["rows_promoted"],
        "phase_seconds": phases,
        "failed_gate": row["failed_gate"],
        "critical_failures": row["critical_failures"],
        "quarantine": row["quarantine_key"],
        "error": row["error_message"],
    }


def format_runs(runs: list[dict]) -> str:
    if not runs:
        return "no runs recorded yet"
    lines = [f"{'run id':<25}{'mode':<12}{'status':<10}{'started (UTC)':<21}{'duration':>10}{'rows':>12}  failed gate / error"]
    for run in runs:
        duration = f"{run['duration_seconds']:.1f} s" if run["duration_seconds"] is not None else "-"
        rows = run["rows_promoted"] if run["status"] == "promoted" else run["rows_extracted"]
        started = (run["started_at"] or "-")[:19].replace("T", " ")
        why = ""
        if run["failed_gate"]:
            why = f"{run['failed_gate']} ({run['critical_failures']} critical)"
        elif run["error"]:
            why = run["error"]
        lines.append(f"{run['run_id']:<25}{run['mode'] or '-':<12}{run['status']:<10}{started:<21}{duration:>10}{rows if rows is not None else '-':>12}  {why}".rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# olist-etl quarantine list | show


def _summary(area, run_id: str) -> dict | None:
    key = f"{quarantine_prefix(run_id)}/summary.json"
    return read_json(area, key) if area.exists(key) else None


def list_quarantine(settings: Settings) -> list[dict]:
    """Every quarantined batch, newest first: run id, where it is, objects kept, failed gate."""
    area = open_staging(settings.staging_url)
    objects: Counter[str] = Counter()
    for key in area.list(f"{QUARANTINE_PREFIX}/"):
        run_id = key[len(QUARANTINE_PREFIX) + 1:].split("/", 1)[0]
        if run_id:
            objects[run_id] += 1
    batches = []
    for run_id in sorted(objects, reverse=True):
        summary = _summary(area, run_id) or {}
        failed_gate, critical = gate_outcome(summary.get("gates") or [])
        batches.append(
            {
                "run_id": run_id,
                "mode": summary.get("mode"),
                "status": summary.get("status"),
                "quarantine": area.uri(quarantine_prefix(run_id)),
                "objects": objects[run_id],
                "failed_gate": failed_gate,
                "critical_failures": critical if summary else None,
            }
        )
    return batches


def format_quarantine_list(batches: list[dict]) -> str:
    if not batches:
        return "no quarantined batches"
    lines = [f"{'run id':<25}{'mode':<12}{'objects':>8}  {'failed gate':<22}{'critical':>9}  where"]
    for b in batches:
        critical = b["critical_failures"] if b["critical_failures"] is not None else "-"
        lines.append(f"{b['run_id']:<25}{b['mode'] or '-':<12}{b['objects']:>8}  {b['failed_gate'] or '-':<22}{critical:>9}  {b['quarantine']}")
    return "\n".join(lines)


def show_quarantine(settings: Settings, run_id: str) -> dict:
    """What a blocked run kept (staged objects per table, gate results) and why (its failures)."""
    if not _RUN_ID.match(run_id or ""):
        raise RunsError(f"not a run id: {run_id!r}")
    area = open_staging(settings.staging_url)
    prefix = f"{quarantine_prefix(run_id)}/"
    keys = area.list(prefix)
    if not keys:
        raise RunsError(f"no quarantined batch for run {run_id} under {area.uri(QUARANTINE_PREFIX)}/")
    kept: dict[str, int] = Counter()
    files = []
    for key in keys:
        relative = key[len(prefix):]
        folder, _, name = relative.rpartition("/")
        if folder:
            kept[folder] += 1
        else:
            files.append(name)
    summary = _summary(area, run_id)
    failures = [
        {"gate": gate.get("name"), **failure}
        for gate in (summary or {}).get("gates") or []
        for failure in gate.get("failed_expectations") or []
    ]
    failed_gate, critical = gate_outcome((summary or {}).get("gates") or [])
    return {
        "run_id": run_id,
        "quarantine": area.uri(quarantine_prefix(run_id)),
        "mode": (summary or {}).get("mode"),
        "status": (summary or {}).get("status"),
        "files": sorted(files),
        "kept_objects": dict(sorted(kept.items())),
        "failed_gate": failed_gate,
        "critical_failures": critical if summary else None,
        "failures": failures,
        "summary": "summary.json" if summary else None,
    }


def describe_failure(failure: dict) -> str:
    """gate, table.column: expectation, unexpected count, sample values (as the sync's message)."""
    column = failure.get("column")
    if isinstance(column, list):
        column = "(" + ", ".join(column) + ")"
    where = f"{failure.get('table')}.{column}" if column else str(failure.get("table"))
    text = f"[{failure.get('severity')}] {failure.get('gate')} {where}: {failure.get('expectation')}"
    if failure.get("unexpected_count") is not None:
        text += f", {failure['unexpected_count']} unexpected"
    if failure.get("sample_values"):
        text += f", e.g. {json.dumps(failure['sample_values'], default=str)}"
    if failure.get("error"):
        text += f": {failure['error']}"
    return text


def format_quarantine_show(shown: dict) -> str:
    lines = [f"run {shown['run_id']} ({shown['mode'] or 'unknown mode'}): {shown['status'] or 'no summary.json'}, kept at {shown['quarantine']}"]
    if shown["kept_objects"]:
        lines.append("  staged objects kept: " + ", ".join(f"{folder} {count}" for folder, count in shown["kept_objects"].items()))
    if shown["files"]:
        lines.append("  files: " + ", ".join(shown["files"]))
    if shown["failures"]:
        lines.append(f"  why: gate {shown['failed_gate']} failed ({shown['critical_failures']} critical)")
        lines += [f"    - {describe_failure(f)}" for f in shown["failures"]]
    elif shown["summary"] is None:
        lines.append("  why: unknown (no summary.json was kept: the run stopped before writing it)")
    return "\n".join(lines)
