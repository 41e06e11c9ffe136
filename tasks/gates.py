"""Prefect tasks over olist_etl.gates: one task per gate; the suites run in the library."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from olist_etl.gates import delta, staged
from olist_etl.gates.delta import GateResult
from olist_etl.gates.staged import StagedGate
from olist_etl.settings import Settings


@task(name=staged.SOURCE_GATE_NAME, cache_policy=NO_CACHE)
def validate_source_columns(settings: Settings, run_id: str) -> GateResult:
    return staged.validate_source_columns(settings, run_id)


@task(name=staged.GATE_NAME, cache_policy=NO_CACHE)
def validate_staged_parts(settings: Settings, manifest: dict) -> StagedGate:
    return staged.run_staged_gate(settings, manifest)


@task(name=delta.GATE_NAME, cache_policy=NO_CACHE)
def validate_delta_tables(settings: Settings, run_id: str, tables: list[str]) -> GateResult:
    return delta.run_delta_gate(settings, run_id, tables)
