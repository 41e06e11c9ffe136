"""Report: the run summary (the CLI's JSON), the summary file in staging, and Prefect artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from olist_etl.settings import Settings
from olist_etl.staging import open_staging, write_json
from tasks.stage import run_prefix


class SyncBlocked(Exception):
    """A gate failed: nothing was promoted. Carries the run summary for the CLI and the UI."""

    def __init__(self, summary: dict, cause: Exception | None = None):
        self.summary = summary
        failed = [
            f"{f.get('table')}: {f.get('expectation')}"
            for gate in summary.get("gates", [])
            for f in gate.get("failed_expectations", [])
            if f.get("severity") == "critical"
        ]
        super().__init__(f"run {summary.get('run_id')} blocked by a quality gate; nothing promoted. Failed: {'; '.join(failed) or cause}")


def summarize_run(manifest: dict, loaded: dict[str, int], gates: list, *, status: str) -> dict:
    """The one JSON object `olist-etl sync --json` prints."""
    site = next((g.data_docs for g in reversed(gates) if getattr(g, "data_docs", None)), None)
    docs = str(Path(site) / "index.html") if site and Path(site).is_dir() else site
    return {
        "status": status,
        "mode": manifest["mode"],
        "run_id": manifest["run_id"],
        "tables": {
            table: {"extracted": entry["rows"], "loaded": loaded.get(table, 0)}
            for table, entry in sorted(manifest["tables"].items())
        },
        "gates": [
            {"name": g.name, "success": g.success, "failed_expectations": g.failed_expectations} for g in gates
        ],
        "data_docs": docs,
    }


@task(name="publish-run-artifacts", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3)
def publish_run_artifacts(settings: Settings, summary: dict) -> None:
    """Keep the summary beside the staged batch and show it in the Prefect UI."""
    write_json(open_staging(settings.staging_url), f"{run_prefix(summary['run_id'])}/summary.json", summary)
    rows = []
    for gate in summary["gates"]:
        if not gate["failed_expectations"]:
            rows.append({"gate": gate["name"], "table": "*", "expectation": "all", "severity": "", "result": "passed", "unexpected_count": 0})
        for failed in gate["failed_expectations"]:
            rows.append(
                {
                    "gate": gate["name"],
                    "table": failed.get("table"),
                    "expectation": failed.get("expectation"),
                    "severity": failed.get("severity"),
                    "result": "failed",
                    "unexpected_count": failed.get("unexpected_count"),
                }
            )
    create_table_artifact(key="olist-sync-gates", table=rows, description=f"Quality gates of run {summary['run_id']}: {summary['status']}")
    counts = "\n".join(f"| {t} | {c['extracted']} | {c['loaded']} |" for t, c in summary["tables"].items())
    create_markdown_artifact(
        key="olist-sync-summary",
        markdown=(
            f"# olist-sync {summary['mode']} run `{summary['run_id']}`: **{summary['status']}**\n\n"
            f"| table | extracted | loaded |\n|---|---|---|\n{counts}\n\n"
            f"Data docs: {summary['data_docs'] or 'not built'}\n"
        ),
    )
