"""Running the sync flow from a command: exit codes, the flow call, the summary as text.

Shared by the CLI and the demo (neither imports the other's module for it).
"""

from __future__ import annotations

from datetime import date

EXIT_OK, EXIT_ERROR, EXIT_BLOCKED = 0, 1, 2
EXIT_DIFFERENT = 3  # verify, sync --verify, repair: the warehouse differs from the source


def run_sync(mode: str, purchased_from: date | None = None, purchased_to: date | None = None) -> tuple[int, dict | None, str | None]:
    """Run the flow; returns (exit code, summary or None, error message or None)."""
    from flows.olist_sync import olist_sync
    from olist_etl.report import SyncBlocked

    state = olist_sync(mode=mode, purchased_from=purchased_from, purchased_to=purchased_to, return_state=True)
    if state.is_completed():
        return EXIT_OK, state.result(), None
    outcome = state.result(raise_on_failure=False)
    if isinstance(outcome, SyncBlocked):
        return EXIT_BLOCKED, outcome.summary, str(outcome)
    return EXIT_ERROR, None, f"{outcome.__class__.__name__}: {outcome}" if isinstance(outcome, BaseException) else state.message


def format_summary(summary: dict) -> str:
    lines = [f"{summary['mode']} sync {summary['run_id']}: {summary['status'].upper()}"]
    if "purchased" in summary:
        lines.append(f"  orders purchased {summary['purchased']['from']} to {summary['purchased']['to']} (inclusive)")
    lines.append(f"  {'table':<36}{'extracted':>10}{'loaded':>10}")
    for table, counts in summary["tables"].items():
        lines.append(f"  {table:<36}{counts['extracted']:>10}{counts['loaded']:>10}")
    if summary.get("deleted"):
        lines.append("  marked deleted: " + ", ".join(f"{table} {rows}" for table, rows in sorted(summary["deleted"].items())))
    for gate in summary["gates"]:
        lines.append(f"  gate {gate['name']}: {'passed' if gate['success'] else 'FAILED'}")
        for failed in gate["failed_expectations"]:
            lines.append(
                f"    - [{failed.get('severity')}] {failed.get('table')}: {failed.get('expectation')}"
                f" {failed.get('column') or ''} unexpected={failed.get('unexpected_count')}"
                f" e.g. {failed.get('sample_values')}"
            )
    lines.append(f"  data docs: {summary['data_docs']}")
    if "verify" in summary:
        verified = summary["verify"]
        lines.append(f"  verify: {verified['status'].upper()}")
        for table, found in verified["tables"].items():
            lines.append(
                f"    {table}: missing {found['missing_count']}, extra {found['extra_count']}, changed {found['changed_count']}"
                " (olist-etl verify --table " + table + " shows the keys; olist-etl repair fixes them)"
            )
    return "\n".join(lines)
