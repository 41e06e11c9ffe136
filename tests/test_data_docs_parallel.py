"""Validations run in parallel threads (gate 1 does) with $PARAMETER suite parameters: GX parses
those with one module-level parser and stack, so run_validation must keep them from interleaving."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from olist_etl.gates import docs
from tests.support.services import make_settings

THREADS = 8
ROUNDS = 2


def validate(settings, index: int, run_id: str) -> tuple[bool, object]:
    import great_expectations as gx
    import pandas as pd

    context = docs.gx_context(settings)  # one context per thread, as the gates do
    rows = 10 + index
    asset = context.data_sources.add_pandas(f"frames-{index}").add_dataframe_asset(f"t{index}")
    suite = gx.ExpectationSuite(name=f"delta.t{index}", expectations=[
        gx.expectations.ExpectTableRowCountToEqual(value={"$PARAMETER": "manifest_rows"}),
        gx.expectations.ExpectColumnValuesToBeBetween(column="a", min_value={"$PARAMETER": "low"}, max_value={"$PARAMETER": "high"}),
    ])
    result = docs.run_validation(
        context, gate="gate-parallel", table=f"t{index}", run_id=run_id, run_time=datetime.now(timezone.utc),
        batch_definition=asset.add_batch_definition_whole_dataframe("whole"), suite=suite,
        batch_parameters={"dataframe": pd.DataFrame({"a": range(rows)})},
        expectation_parameters={"manifest_rows": rows, "low": 0, "high": rows - 1},
    )
    errors = [r.exception_info for r in result.results if r.exception_info.get("raised_exception")]
    return result.success, errors


def test_parallel_validations_resolve_their_own_parameters(tmp_path):
    from great_expectations.core import suite_parameters, validation_definition

    settings = make_settings(tmp_path / "home", source_url="sqlite://", warehouse_url=None)
    docs.gx_context(settings)
    # The race is rare on a quiet machine: the lock is asserted as well as its effect.
    assert suite_parameters.parse_suite_parameter is validation_definition.parse_suite_parameter
    assert getattr(validation_definition.parse_suite_parameter, "olist_serialized", False)
    for round_ in range(ROUNDS):
        run_id = f"20261130T0{round_}0000Z-par"
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            outcomes = list(pool.map(lambda i: validate(settings, i, run_id), range(THREADS)))
        assert outcomes == [(True, [])] * THREADS, outcomes


def test_a_wrong_parameter_still_fails_its_own_validation(tmp_path):
    import great_expectations as gx
    import pandas as pd

    settings = make_settings(tmp_path / "home", source_url="sqlite://", warehouse_url=None)
    context = docs.gx_context(settings)
    asset = context.data_sources.add_pandas("frames").add_dataframe_asset("t")
    suite = gx.ExpectationSuite(name="delta.t", expectations=[gx.expectations.ExpectTableRowCountToEqual(value={"$PARAMETER": "manifest_rows"})])
    result = docs.run_validation(
        context, gate="gate-parallel", table="t", run_id="20261130T000000Z-one", run_time=datetime.now(timezone.utc),
        batch_definition=asset.add_batch_definition_whole_dataframe("whole"), suite=suite,
        batch_parameters={"dataframe": pd.DataFrame({"a": range(5)})}, expectation_parameters={"manifest_rows": 6},
    )
    assert not result.success and result.results[0].result["observed_value"] == 5
