"""The `olist-sync` flow: extract -> stage -> load -> gate -> merge -> docs and artifacts.

The flow only wires tasks together; each stage lives in its own module under tasks/.
Parameters are plain values: the settings (with their secrets) are built from the environment
here, in the entrypoint, so no password ever becomes a flow-run parameter stored by Prefect.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow

from olist_etl.blocks import notify_failure, settings_with_blocks
from olist_etl.db import resolve_warehouse
from olist_etl.locking import sync_lock
from olist_etl.settings import Settings
from olist_etl.tables import TABLE_NAMES
from tasks.extract import extract_since, extract_table
from tasks.load import create_warehouse, load_table
from tasks.merge import promote, read_watermarks
from tasks.report import SyncBlocked, publish_run_artifacts, quarantine_run, summarize_run
from tasks.stage import new_run_id, write_manifest
from tasks.validate import GateFailed, validate_delta_tables
from tasks.validate_staged import validate_source_columns, validate_staged_parts


# Blocked (a gate failed), failed and crashed runs notify through OLIST_NOTIFY_BLOCK when it is set.
@flow(name="olist-sync", flow_run_name="olist-sync-{mode}", on_failure=[notify_failure], on_crashed=[notify_failure])
def olist_sync(mode: Literal["full", "incremental"] = "incremental") -> dict:
    """Sync the Olist source into the warehouse; `mode` is `full` or `incremental`."""
    settings = resolve_warehouse(settings_with_blocks(Settings.from_env()))
    return sync_tables(settings, mode)


def sync_tables(settings: Settings, mode: str) -> dict:
    run_id = new_run_id()
    # One sync at a time from the DDL to the merge: concurrent CREATE ... IF NOT EXISTS can collide,
    # the delta tables are shared, and a run extracted from stale watermarks must not be promoted
    # after a newer one.
    with sync_lock(settings, run_id, settings.lock_wait_seconds) as lock:
        return _sync_locked(settings, mode, run_id, lock)


def _sync_locked(settings: Settings, mode: str, run_id: str, lock) -> dict:
    create_warehouse(settings)
    watermarks = read_watermarks(settings) if mode == "incremental" else {}
    gates, loaded = [], {}
    manifest = {"run_id": run_id, "mode": mode, "tables": {}}  # what a run blocked before its extract reports
    try:
        # The source's columns before the extract, gate 1 on the staged parts, gate 2 on the delta
        # tables, the post-merge suite inside promote.
        gates.append(validate_source_columns(settings, run_id))
        extracts = [
            extract_table.submit(settings, run_id, table, extract_since(mode, watermarks.get(table), settings.lookback))
            for table in TABLE_NAMES
        ]
        manifest = write_manifest(settings, run_id, mode, [e.result() for e in extracts])
        staged = validate_staged_parts(settings, manifest)
        gates.append(staged.result)
        manifest = staged.manifest
        loads = {table: load_table.submit(settings, manifest, table) for table in TABLE_NAMES}
        loaded = {table: future.result() for table, future in loads.items()}
        gates.append(validate_delta_tables(settings, run_id, list(TABLE_NAMES)))
        if lock is not None:
            lock.assert_held()
        promote(settings, manifest)
    except GateFailed as blocked:
        gates.append(blocked.result)
        quarantined = quarantine_run(settings, run_id, gates)
        summary = summarize_run(manifest, loaded, gates, status="blocked") | {"quarantine": quarantined}
        publish_run_artifacts(settings, summary, gates)
        raise SyncBlocked(summary, blocked) from blocked
    summary = summarize_run(manifest, loaded, gates, status="promoted")
    publish_run_artifacts(settings, summary, gates)
    return summary
