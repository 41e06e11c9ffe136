"""Prefect tasks over olist_etl.stage: names, retries and caching; the work is in the library."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from olist_etl import stage as lib
from olist_etl.retrying import retry_transient_only
from olist_etl.settings import Settings
from olist_etl.manifest import RunManifest, TableExtract


# An S3 PUT: about 3 s, then 6 s.
@task(
    name="write-manifest",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=3),
    retry_condition_fn=retry_transient_only,
)
def write_manifest(
    settings: Settings, run_id: str, mode: str, extracts: list[TableExtract], purchased: dict[str, str] | None = None
) -> RunManifest:
    return lib.write_manifest(settings, run_id, mode, extracts, purchased)
