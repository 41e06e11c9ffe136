"""Prefect tasks over olist_etl.gates: one task per gate step; the suites run in the library."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from olist_etl.gates import delta, source_columns, staged
from olist_etl.gates.results import GateResult
from olist_etl.gates.staged import PartsCheck, StagedGate
from olist_etl.manifest import RunManifest
from olist_etl.settings import Settings


@task(name=source_columns.GATE_NAME, cache_policy=NO_CACHE)
def validate_source_columns(settings: Settings, run_id: str) -> GateResult:
    return source_columns.run_source_columns_gate(settings, run_id)


@task(name="check-staged-parts", cache_policy=NO_CACHE)
def check_staged_parts(settings: Settings, manifest: RunManifest) -> PartsCheck:
    return staged.check_parts(settings, manifest)


@task(name=staged.GATE_NAME, cache_policy=NO_CACHE)
def validate_staged_parts(settings: Settings, parts: PartsCheck) -> StagedGate:
    return staged.validate_landing(settings, parts)


@task(name=delta.GATE_NAME, cache_policy=NO_CACHE)
def validate_delta_tables(settings: Settings, manifest: RunManifest) -> GateResult:
    return delta.run_delta_gate(settings, manifest)
