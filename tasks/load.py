"""Prefect tasks over olist_etl.load: names, retries and caching; the work is in the library."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from olist_etl import load as lib
from olist_etl.manifest import RunManifest
from olist_etl.retrying import retry_transient_only
from olist_etl.settings import Settings


@task(name="create-warehouse", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def create_warehouse(settings: Settings) -> None:
    lib.create_warehouse(settings)


# A COPY is retried only while its error is transient (a dropped connection, a throttled S3 GET).
@task(
    name="load-table",
    task_run_name="load-{table}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_transient_only,
)
def load_table(settings: Settings, manifest: RunManifest, table: str) -> int:
    # The flow lands the rows (load_landing) before gate 1; this casts them into the delta table.
    return lib.load_table(settings, manifest, table, landed=True)


@task(
    name="load-landing",
    task_run_name="land-{table}",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_transient_only,
)
def load_landing(settings: Settings, manifest: RunManifest, table: str) -> int:
    return lib.load_landing(settings, manifest, table)
