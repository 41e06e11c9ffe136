"""The `olist-sync` flow: extract -> stage -> load -> gate -> merge -> docs and artifacts.

The flow only wires tasks together; each stage lives in its own module under tasks/.
Parameters are plain values: the settings (with their secrets) are built from the environment
here, in the entrypoint, so no password ever becomes a flow-run parameter stored by Prefect.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow

from olist_etl.db import resolve_warehouse
from olist_etl.settings import Settings
from olist_etl.tables import TABLE_NAMES
from tasks.extract import extract_since, extract_table
from tasks.load import create_warehouse, load_table
from tasks.merge import promote, read_watermarks
from tasks.report import SyncBlocked, publish_run_artifacts, summarize_run
from tasks.stage import new_run_id, write_manifest
from tasks.validate import GateFailed, validate_delta_tables


@flow(name="olist-sync", flow_run_name="olist-sync-{mode}")
def olist_sync(mode: Literal["full", "incremental"] = "incremental") -> dict:
    """Sync the Olist source into the warehouse; `mode` is `full` or `incremental`."""
    settings = resolve_warehouse(Settings.from_env())
    return sync_tables(settings, mode)


def sync_tables(settings: Settings, mode: str) -> dict:
    run_id = new_run_id()
    create_warehouse(settings)
    watermarks = read_watermarks(settings) if mode == "incremental" else {}
    extracts = [
        extract_table.submit(settings, run_id, table, extract_since(mode, watermarks.get(table), settings.lookback))
        for table in TABLE_NAMES
    ]
    manifest = write_manifest(settings, run_id, mode, [e.result() for e in extracts])
    loads = {table: load_table.submit(settings, manifest, table) for table in TABLE_NAMES}
    loaded = {table: future.result() for table, future in loads.items()}
    try:
        gate = validate_delta_tables(settings, run_id, list(TABLE_NAMES))
    except GateFailed as blocked:
        summary = summarize_run(manifest, loaded, [blocked.result], status="blocked")
        publish_run_artifacts(settings, summary)
        raise SyncBlocked(summary, blocked) from blocked
    promote(settings, manifest)
    summary = summarize_run(manifest, loaded, [gate], status="promoted")
    publish_run_artifacts(settings, summary)
    return summary
