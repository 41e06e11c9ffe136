"""Prefect tasks over olist_etl.report: names, retries and caching; the work is in the library."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from olist_etl import report as lib
from olist_etl.settings import Settings


@task(name="publish-run-artifacts", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3)
def publish_run_artifacts(settings: Settings, summary: dict, gates: list | None = None) -> None:
    lib.publish_run_artifacts(settings, summary, gates)


@task(name="quarantine-run", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=3)
def quarantine_run(settings: Settings, run_id: str, gates: list) -> str:
    return lib.quarantine_run(settings, run_id, gates)
