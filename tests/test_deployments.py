"""deployments/prefect.yaml, read by Prefect's own loader and checked against the flow."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ParameterTypeError
from prefect.flows import load_flow_from_entrypoint
from rich.console import Console

from prefect.cli.deploy._config import _load_deploy_configs_and_actions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def deployments() -> dict[str, dict]:
    configs, _ = _load_deploy_configs_and_actions(ROOT / "deployments" / "prefect.yaml", console=Console(quiet=True))
    return {c["name"]: c for c in configs}


def test_historical_and_incremental_deployments_exist(deployments):
    assert set(deployments) >= {"historical", "incremental"}
    assert deployments["historical"]["parameters"] == {"mode": "full"}
    assert deployments["incremental"]["parameters"] == {"mode": "incremental"}


def test_entrypoints_load_the_olist_sync_flow_and_accept_the_parameters(deployments, monkeypatch):
    monkeypatch.chdir(ROOT)  # prefect deploy resolves entrypoints from the repository root
    for config in deployments.values():
        flow = load_flow_from_entrypoint(config["entrypoint"])
        assert flow.name == "olist-sync"
        validated = flow.validate_parameters(config["parameters"])
        assert {k: validated[k] for k in config["parameters"]} == config["parameters"]


def test_a_wrong_mode_is_refused_by_the_flow(monkeypatch):
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint("flows/olist_sync.py:olist_sync")
    with pytest.raises(ParameterTypeError):
        flow.validate_parameters({"mode": "everything"})


def test_incremental_runs_daily_on_an_explicit_timezone(deployments):
    (schedule,) = deployments["incremental"]["schedules"]
    parsed = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert parsed.timezone == "America/Sao_Paulo"
    assert parsed.cron == "0 3 * * *"
    assert "schedules" not in deployments["historical"] or not deployments["historical"]["schedules"]


def test_backfill_is_run_by_hand_with_the_purchase_dates_as_parameters(deployments, monkeypatch):
    config = deployments["backfill"]
    assert config["parameters"] == {"mode": "backfill"}  # the dates come with each run
    assert not config.get("schedules") and not config.get("triggers")
    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(config["entrypoint"])
    # What `prefect deployment run 'olist-sync/backfill' -p purchased_from=2018-01-01 ...` sends.
    validated = flow.validate_parameters({**config["parameters"], "purchased_from": "2018-01-01", "purchased_to": "2018-01-31"})
    assert validated == {"mode": "backfill", "purchased_from": date(2018, 1, 1), "purchased_to": date(2018, 1, 31)}
    with pytest.raises(ParameterTypeError, match="purchased_to"):
        flow.validate_parameters({**config["parameters"], "purchased_from": "2018-01-01", "purchased_to": "January"})


def test_a_backfill_without_its_dates_fails_before_touching_anything(monkeypatch):
    from flows.olist_sync import olist_sync

    # No source or warehouse is configured: the check must come first to name the real problem.
    monkeypatch.setenv("OLIST_WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ValueError, match="missing purchased_to"):
        olist_sync.fn(mode="backfill", purchased_from=date(2018, 1, 1))
    with pytest.raises(ValueError, match="purchased_from 2018-02-01 is after purchased_to 2018-01-01"):
        olist_sync.fn(mode="backfill", purchased_from=date(2018, 2, 1), purchased_to=date(2018, 1, 1))
    with pytest.raises(ValueError, match="apply to mode 'backfill' only"):
        olist_sync.fn(mode="incremental", purchased_from=date(2018, 1, 1))



def test_the_upload_deployment_is_triggered_only_by_objects_under_incoming(deployments):
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers
    from prefect.events.schemas.events import Resource

    config = deployments["incremental-on-upload"]
    assert config["parameters"] == {"mode": "incremental"}
    (trigger,) = _initialize_deployment_triggers(config["name"], config["triggers"])
    assert trigger.expect == {"olist.staging.object-created"}
    assert trigger.parameters == {"mode": "incremental"}

    def fires_for(key: str) -> bool:
        return trigger.match.matches(Resource({"prefect.resource.id": f"olist.staging.{key}"}))

    assert fires_for("olist/incoming/orders-2026-11.csv")
    assert not fires_for("olist/runs/20261124T000000Z-abc123/manifest.json")  # the sync's own writes
    assert not fires_for("other/incoming/orders.csv")


def test_every_deployment_pulls_into_the_directory_named_by_olist_etl_dir(deployments, monkeypatch):
    import yaml
    from prefect.utilities.templating import apply_values

    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    assert not any("pull" in c for c in spec["deployments"])  # none overrides the shared step
    (step,) = spec["pull"]
    # What `prefect deploy` and the flow run do with it: the variable's value when set ...
    monkeypatch.setenv("OLIST_ETL_DIR", str(ROOT))
    assert apply_values(step, {}) == {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    # ... and, unset at deploy time, the placeholder is kept for the worker to resolve.
    monkeypatch.delenv("OLIST_ETL_DIR")
    assert apply_values(step, {}, remove_notset=False) == step
