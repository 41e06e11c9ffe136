"""Report: the run summary (the CLI's JSON), the summary file in staging, and Prefect artifacts."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from olist_etl.manifest import RunManifest, TableExtract, quarantine_prefix, run_prefix, summary_key
from olist_etl.runs import RunClock, error_line, gate_outcome, run_params, utcnow
from olist_etl.settings import Settings
from olist_etl.staging import StagingArea, open_staging, write_json

DATA_DOCS_PREFIX = "data_docs"
log = logging.getLogger(__name__)


class SyncBlocked(Exception):
    """A gate failed: nothing was promoted. Carries the run summary for the CLI and the UI."""

    def __init__(self, summary: dict, cause: Exception | None = None):
        self.summary = summary
        from olist_etl.gates.results import GateFailure, describe_failure

        # Table, column, expectation, unexpected count and sample values of every critical failure
        # (the summary holds them as JSON, GateFailure.to_dict()).
        failed = [
            f"[{gate.get('name')}] {describe_failure(GateFailure.from_dict(f))}"
            for gate in summary.get("gates", [])
            for f in gate.get("failed_expectations", [])
            if f.get("severity") == "critical"
        ]
        where = f"; staged batch kept at {summary['quarantine']}" if summary.get("quarantine") else ""
        super().__init__(f"run {summary.get('run_id')} blocked by a quality gate; nothing promoted{where}. Failed: {'; '.join(failed) or cause}")


def summarize_run(manifest: RunManifest, loaded: dict[str, int], gates: list, *, status: str) -> dict:
    """The one JSON object `olist-etl sync --json` prints."""
    site = next((g.data_docs for g in reversed(gates) if getattr(g, "data_docs", None)), None)
    docs = str(Path(site) / "index.html") if site and Path(site).is_dir() else site
    return {
        "status": status,
        "mode": manifest.mode,
        "run_id": manifest.run_id,
        "tables": {table: _table_summary(manifest.mode, entry, loaded.get(table, 0)) for table, entry in sorted(manifest.tables.items())},
        "gates": [
            {"name": g.name, "success": g.success, "failed_expectations": [f.to_dict() for f in g.failed_expectations]} for g in gates
        ],
        "data_docs": docs,
    }


def blocked_run_params(summary: dict, manifest: RunManifest, clock: RunClock) -> dict:
    """The etl_control.runs row of a blocked run: its first failed gate, the number of critical
    failures and where its batch was quarantined (olist_etl/runs.py records it)."""
    failed_gate, critical = gate_outcome(summary["gates"])
    return run_params(
        summary["run_id"], summary["mode"], "blocked", clock.started_at, utcnow(),
        rows_promoted=0, rows_extracted=manifest.rows_extracted, phase_seconds=clock.seconds(),
        failed_gate=failed_gate, critical_failures=critical, quarantine_key=summary.get("quarantine"),
    )


def _table_summary(mode: str, entry: TableExtract, loaded: int) -> dict:
    """Rows extracted and loaded, and how the extract chose them (olist_etl/extract.py: methods)."""
    summary = {"extracted": entry.rows, "loaded": loaded, "method": entry.method}
    if entry.fetched_by_key:
        summary["fetched_by_key"] = entry.fetched_by_key
    deletes = entry.deletes or {}
    if deletes.get("rows"):
        summary["deleted_keys"] = deletes["rows"]
    if mode == "incremental" and entry.method == "diff":
        summary["note"] = "no updated_at column in the source: synced by comparing the source with the warehouse (diff)"
    return summary


def publish_run_artifacts(settings: Settings, summary: dict, gates: list | None = None) -> None:
    """Keep the summary beside the staged batch, publish the data docs, and show both in the Prefect UI.

    `gates` (the GateResult objects) give one artifact row per expectation checked; without them
    the rows come from the summary's failures. The run's data docs page (its outcome, its gates,
    a link to every validation page) is written first, so the summary and the artifact link it.
    """
    from olist_etl.gates.docs import docs_dir, record_run as record_run_docs  # GX loads only when a run reports

    area = open_staging(settings.staging_url)
    run_page = record_run_docs(settings, summary["run_id"], summary["status"], mode=summary.get("mode"), gates=gates, quarantine=summary.get("quarantine"))
    summary["data_docs_run"] = str(run_page)
    published = publish_data_docs(settings, area)
    if published:
        summary["data_docs_published"] = published
        summary["data_docs_run_published"] = area.uri(f"{DATA_DOCS_PREFIX}/{run_page.relative_to(docs_dir(settings)).as_posix()}")
    write_json(area, summary_key(summary['run_id']), summary)
    if summary.get("quarantine"):
        # The quarantined copy is complete only with the summary, written after the copy was made.
        write_json(area, f"{quarantine_prefix(summary['run_id'])}/summary.json", summary)
    create_table_artifact(key="olist-sync-gates", table=gate_rows(summary, gates), description=f"Quality gates of run {summary['run_id']}: {summary['status']}")
    link = summary.get("data_docs_run_published") or run_page.as_uri()
    create_link_artifact(key="olist-sync-data-docs", link=link, link_text=f"Data docs of run {summary['run_id']}", description=f"Run {summary['run_id']}: {summary['status']}; its gates and validation pages")
    counts = "\n".join(f"| {t} | {c['extracted']} | {c['loaded']} |" for t, c in summary["tables"].items())
    create_markdown_artifact(
        key="olist-sync-summary",
        markdown=(
            f"# olist-sync {summary['mode']} run `{summary['run_id']}`: **{summary['status']}**\n\n"
            f"| table | extracted | loaded |\n|---|---|---|\n{counts}\n\n"
            f"Data docs of this run: {link}\n"
        ),
    )


def publish_failed_run(settings: Settings, run_id: str, mode: str, status: str, error: str, gates: list) -> None:
    """A run that stopped on an error (or was cancelled) is listed in the data docs as such.

    Best effort: the run's own error is what the caller raises, so a second failure here (the
    staging area may be what failed) is only logged.
    """
    try:
        from olist_etl.gates.docs import record_run as record_run_docs

        record_run_docs(settings, run_id, status, mode=mode, gates=gates, error=error)
        publish_data_docs(settings)
    except Exception as err:  # noqa: BLE001 - reported, never masking the run's error
        log.warning("run %s: could not record its data docs page: %s", run_id, error_line(err, settings))


def gate_rows(summary: dict, gates: list | None = None) -> list[dict]:
    """One row per expectation checked (table, expectation, column, severity, result, unexpected count)."""
    rows = []
    if gates:
        for gate in gates:
            for table in gate.results:
                if "expectations" not in table:  # the table could not be checked at all
                    rows.append({"gate": gate.name, "table": table["table"], "expectation": "gx_error", "column": "", "severity": "critical", "result": "error", "unexpected_count": None})
                for item in table.get("expectations", []):
                    column = item.get("column")
                    rows.append(
                        {
                            "gate": gate.name,
                            "table": table["table"],
                            "expectation": item["expectation"],
                            "column": ", ".join(column) if isinstance(column, list) else (column or ""),
                            "severity": item["severity"],
                            "result": "passed" if item["success"] else "failed",
                            "unexpected_count": item.get("unexpected_count"),
                        }
                    )
        return rows
    for gate in summary["gates"]:
        if not gate["failed_expectations"]:
            rows.append({"gate": gate["name"], "table": "*", "expectation": "all", "column": "", "severity": "", "result": "passed", "unexpected_count": 0})
        for failed in gate["failed_expectations"]:
            column = failed.get("column")
            rows.append(
                {
                    "gate": gate["name"],
                    "table": failed.get("table"),
                    "expectation": failed.get("expectation"),
                    "column": ", ".join(column) if isinstance(column, list) else (column or ""),
                    "severity": failed.get("severity"),
                    "result": "failed",
                    "unexpected_count": failed.get("unexpected_count"),
                }
            )
    return rows

def quarantine_run(settings: Settings, run_id: str, gates: list) -> str:
    """Copy a blocked run's staged objects to quarantine/<run_id>/ with each gate's result JSON beside them.

    A copy, not a move: runs/<run_id>/ stays where the load and the summary expect it, and the
    quarantine prefix is what an operator inspects (or a lifecycle rule keeps longer).
    """
    area = open_staging(settings.staging_url)
    source = f"{run_prefix(run_id)}/"
    target = quarantine_prefix(run_id)
    for key in area.list(source):
        area.copy(key, f"{target}/{key[len(source):]}")
    for gate in gates:
        write_json(area, f"{target}/{gate.name}.json", json.loads(gate.to_json()))
    return area.uri(target)


def publish_data_docs(settings: Settings, area: StagingArea | None = None) -> str | None:
    """Sync the local data docs site to <staging>/data_docs/ when staging is on S3; returns its index URI.

    Only files missing remotely or of a different size are uploaded, plus the index pages, which
    change every run: the site grows by a few pages per run, not by a full copy.
    """
    if not settings.staging_url.startswith("s3://"):
        return None
    site = settings.home / "data_docs"
    if not (site / "index.html").is_file():
        return None
    area = area or open_staging(settings.staging_url)
    remote = {key: size for key, size in _sizes(area, f"{DATA_DOCS_PREFIX}/").items()}
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        relative = path.relative_to(site).as_posix()
        key = f"{DATA_DOCS_PREFIX}/{relative}"
        if remote.get(key) == path.stat().st_size and path.name != "index.html":
            continue
        with path.open("rb") as src, area.writer(key) as out:
            shutil.copyfileobj(src, out)
    return area.uri(f"{DATA_DOCS_PREFIX}/index.html")


def _sizes(area, prefix: str) -> dict[str, int]:
    client = getattr(area, "_client", None)
    if client is None:
        return {}
    full = f"{area.prefix}/{prefix}" if area.prefix else prefix
    strip = len(area.prefix) + 1 if area.prefix else 0
    sizes = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=area.bucket, Prefix=full):
        sizes.update({obj["Key"][strip:]: obj["Size"] for obj in page.get("Contents", [])})
    return sizes
