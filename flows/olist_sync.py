"""The `olist-sync` flow: extract -> stage -> load -> gate -> merge -> docs and artifacts.

The flow only wires tasks together; each task (tasks/) wraps a library function (olist_etl/).
Parameters are plain values: the settings (with their secrets) are built from the environment
here, in the entrypoint, so no password ever becomes a flow-run parameter stored by Prefect.
"""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Literal

from prefect import flow

from olist_etl.blocks import notify_failure, settings_with_blocks
from olist_etl.db import resolve_warehouse
from olist_etl.locking import prefect_sync_slot, sync_lock
from olist_etl.warehouse.rendering import is_redshift_sql, sql_dialect
from olist_etl.manifest import RunManifest, new_run_id
from olist_etl.runs import RunClock, error_line, record_run, run_params, utcnow
from olist_etl.settings import Settings
from olist_etl.tables import TABLE_NAMES
from olist_etl.extract import BACKFILL_TABLES, PurchaseWindow, empty_extract, extract_since, purchase_window
from olist_etl.gates.results import GateFailed
from olist_etl.report import SyncBlocked, blocked_run_params, publish_failed_run, summarize_run
from olist_etl.runner import task_runner
from tasks.extract import extract_purchase_range, extract_table
from tasks.gates import check_staged_parts, validate_delta_tables, validate_source_columns, validate_staged_parts
from tasks.load import create_warehouse, load_landing, load_table
from tasks.merge import has_promoted_run, promote, read_watermarks
from tasks.report import publish_run_artifacts, quarantine_run
from tasks.stage import write_manifest


# Blocked (a gate failed), failed and crashed runs notify through OLIST_NOTIFY_BLOCK when it is set.
@flow(name="olist-sync", flow_run_name="olist-sync-{mode}", on_failure=[notify_failure], on_crashed=[notify_failure])
def olist_sync(
    mode: Literal["full", "incremental", "diff", "backfill"] = "incremental",
    purchased_from: date | None = None,
    purchased_to: date | None = None,
) -> dict:
    """Sync the Olist source into the warehouse.

    `full` re-reads every table and marks every key it did not find deleted. `incremental` reads
    the rows changed since the promoted watermarks, plus the rows a comparison of the source with
    the warehouse finds missing or different there, and marks the keys it finds gone deleted (a
    table without updated_at goes by the comparison alone). `diff` goes by the comparison alone for
    every table: it repairs drift and syncs sources without updated_at. `backfill` re-reads the
    orders purchased from `purchased_from` to `purchased_to` (inclusive dates, both required) and
    the rows tied to them, without moving the watermarks.
    """
    # Checked before anything connects: a bad range fails the run with a message naming it.
    window = purchase_window(mode, purchased_from, purchased_to)
    settings = resolve_warehouse(settings_with_blocks(Settings.from_env()))
    return sync_tables(settings, mode, window)


_on_default_runner = olist_sync


def with_selected_runner():
    """The flow on the task runner the environment selects now (olist_etl/runner.py): table tasks
    go to a Dask cluster when OLIST_DASK_ADDRESS or OLIST_DASK_WORKERS is set."""
    runner = task_runner()
    return _on_default_runner if runner is None else _on_default_runner.with_options(task_runner=runner)


# Chosen when a worker or the CLI imports the flow, so deployments follow the environment too.
olist_sync = with_selected_runner()


def sync_tables(settings: Settings, mode: str, window: PurchaseWindow | None = None) -> dict:
    run_id = new_run_id()
    # One sync at a time from the DDL to the merge: concurrent CREATE ... IF NOT EXISTS can collide,
    # the delta tables are shared, and a run extracted from stale watermarks must not be promoted
    # after a newer one.
    # On Redshift (no advisory locks) the Prefect global concurrency limit "olist-sync" serialises
    # syncs, and every writing transaction also starts with LOCK etl_control.loads (docs/redshift.md).
    with contextlib.ExitStack() as held:
        if is_redshift_sql(sql_dialect(settings)):
            held.enter_context(prefect_sync_slot(run_id, settings.lock_wait_seconds))
        lock = held.enter_context(sync_lock(settings, run_id, settings.lock_wait_seconds))
        return _sync_locked(settings, mode, run_id, lock, window)


def _extract(settings: Settings, run_id: str, mode: str, window: PurchaseWindow | None) -> list:
    """Extract every table in parallel: by purchase date for a backfill, else by updated_at."""
    if window is not None:
        futures = [extract_purchase_range.submit(settings, run_id, table, window) for table in BACKFILL_TABLES]
        return [f.result() for f in futures] + [empty_extract(t) for t in TABLE_NAMES if t not in BACKFILL_TABLES]
    watermarks = read_watermarks(settings) if mode == "incremental" else {}
    # Nothing to compare with before the first promoted run: every table is read whole then.
    compare = mode in ("incremental", "diff") and has_promoted_run(settings)
    futures = [
        extract_table.submit(
            settings, run_id, table, extract_since(mode, watermarks.get(table), settings.lookback),
            compare=compare, window=mode != "diff",
        )
        for table in TABLE_NAMES
    ]
    return [f.result() for f in futures]


def _sync_locked(settings: Settings, mode: str, run_id: str, lock, window: PurchaseWindow | None) -> dict:
    create_warehouse(settings)
    gates, loaded = [], {}
    purchased = window.as_dict() if window is not None else None
    manifest = RunManifest.before_extract(run_id, mode)
    clock = RunClock()  # started_at and seconds per phase, for etl_control.runs and the summary
    try:
        # The source's columns before the extract, gate 1 on the staged parts, gate 2 on the delta
        # tables, the post-merge suite inside promote.
        with clock.phase("gates"):
            gates.append(validate_source_columns(settings, run_id))
        with clock.phase("extract"):
            manifest = write_manifest(settings, run_id, mode, _extract(settings, run_id, mode, window), purchased)
        # Gate 1: the parts' structure, then GX on the text they land as; nothing typed before it passes.
        with clock.phase("gates"):
            parts = check_staged_parts(settings, manifest)
        manifest = parts.manifest
        with clock.phase("load"):
            landed = [load_landing.submit(settings, manifest, table) for table in TABLE_NAMES]
            for future in landed:
                future.result()
        with clock.phase("gates"):
            staged = validate_staged_parts(settings, parts)
        gates.append(staged.result)
        with clock.phase("load"):
            loads = {table: load_table.submit(settings, manifest, table) for table in TABLE_NAMES}
            loaded = {table: future.result() for table, future in loads.items()}
        with clock.phase("gates"):
            gates.append(validate_delta_tables(settings, manifest))
        if lock is not None:
            lock.assert_held()
        with clock.phase("merge"):
            # Records the run in etl_control.runs inside its transaction.
            promoted = promote(settings, manifest, clock)
    except GateFailed as blocked:
        gates.append(blocked.result)
        quarantined = quarantine_run(settings, run_id, gates)
        summary = summarize_run(manifest, loaded, gates, status="blocked") | {"quarantine": quarantined} | _window(purchased)
        summary["phases"] = clock.seconds()
        record_run(settings, blocked_run_params(summary, manifest, clock))
        publish_run_artifacts(settings, summary, gates)
        raise SyncBlocked(summary, blocked) from blocked
    except BaseException as err:
        # Failed, or cancelled (KeyboardInterrupt, SIGTERM, SystemExit); recorded in its own
        # transaction. Interrupted just after the promote committed, the promoted row stays:
        # record_run never overwrites a row.
        status = "failed" if isinstance(err, Exception) else "cancelled"
        record_run(settings, run_params(
            run_id, mode, status, clock.started_at, utcnow(), rows_extracted=manifest.rows_extracted,
            phase_seconds=clock.seconds(), error_message=error_line(err, settings),
        ))
        # The data docs list it as failed too, with the pages its gates wrote before the error.
        publish_failed_run(settings, run_id, mode, status, error_line(err, settings), gates)
        raise
    deleted = {step.removeprefix("deleted "): rows for step, rows in promoted.items() if step.startswith("deleted ") and rows}
    summary = summarize_run(manifest, loaded, gates, status="promoted") | {"deleted": deleted} | _window(purchased)
    summary["phases"] = clock.seconds()
    publish_run_artifacts(settings, summary, gates)
    return summary


def _window(purchased: dict | None) -> dict:
    """A backfill's summary names its purchase-date range."""
    return {"purchased": purchased} if purchased is not None else {}
