"""Prefect tasks over olist_etl.merge: names, retries and caching; the work is in the library."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from olist_etl import merge as lib
from olist_etl.manifest import RunManifest
from olist_etl.runs import RunClock
from olist_etl.settings import Settings


# No retries: a failed promote rolls everything back, and what failed will not fix itself.
@task(name="promote", cache_policy=NO_CACHE)
def promote(settings: Settings, manifest: RunManifest, clock: RunClock | None = None) -> dict[str, int]:
    return lib.promote(settings, manifest, clock)


@task(name="has-promoted-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def has_promoted_run(settings: Settings) -> bool:
    return lib.has_promoted_run(settings)


@task(name="read-watermarks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def read_watermarks(settings: Settings) -> dict[str, datetime | None]:
    return lib.read_watermarks(settings)
