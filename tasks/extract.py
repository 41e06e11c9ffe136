"""Prefect tasks over olist_etl.extract: names, retries and caching; the work is in the library."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from olist_etl import extract as lib
from olist_etl.extract import PurchaseWindow
from olist_etl.retrying import retry_transient_only
from olist_etl.settings import Settings
from olist_etl.manifest import TableExtract

# Source reads and staging writes are I/O: retried while the error is transient, about 5 s, 10 s,
# 20 s (jittered up to +50 % so parallel table extracts do not retry in lockstep). A retry starts
# the table over.
EXTRACT_TASK_OPTIONS = dict(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient_only,
)


@task(name="extract-table", task_run_name="extract-{table}", **EXTRACT_TASK_OPTIONS)
def extract_table(settings: Settings, run_id: str, table: str, since: str | None, compare: bool = False, window: bool = True) -> TableExtract:
    return lib.extract_table(settings, run_id, table, since, compare=compare, window=window)


@task(name="extract-purchase-range", task_run_name="backfill-{table}", **EXTRACT_TASK_OPTIONS)
def extract_purchase_range(settings: Settings, run_id: str, table: str, window: PurchaseWindow) -> TableExtract:
    return lib.extract_purchase_range(settings, run_id, table, window)
