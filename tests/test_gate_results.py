"""The typed gate failure (olist_etl/gates/results.py: GateFailure) and the one gate ending.

No database: failures are built by their producers where one runs without services (gx_error,
the source contract's checks, the staged parts' structural pass on a local staging folder), and
their stored JSON is compared with the shape the result files, run summaries, etl_control.runs
and Prefect artifacts have always read.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

import pytest

from olist_etl.gates.results import GX_ERROR, GateFailed, GateFailure, GateResult, describe_failure, finish_gate, gx_error
from olist_etl.gates.staged import FIELD_COUNT_CHECK, GATE_NAME as STAGED_GATE, check_parts
from olist_etl.manifest import RunManifest, TableExtract, rejects_key
from olist_etl.report import SyncBlocked
from olist_etl.source.contract import ContractCheck
from olist_etl.stage import PartWriter
from olist_etl.staging import open_staging
from olist_etl.tables import get_table
from tests.support.services import make_settings

PLAIN_KEYS = ["table", "expectation", "column", "severity", "unexpected_count", "sample_values", "description"]
RUN = "20261124T100000Z-abcdef"


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "home", source_url="sqlite://", warehouse_url=None)


def plain_failure(severity: str = "critical") -> GateFailure:
    return ContractCheck("sellers", "expect_column_values_to_be_unique", ["seller_id", "seller_state"], severity,
                         "one row per key", samples=[{"seller_id": "a"}], unexpected=2).failure()


def test_to_dict_has_the_documented_keys_in_order_and_omits_unset_error_and_rejects(settings):
    plain = plain_failure()
    error = gx_error("orders", RuntimeError("no such table"), settings)
    rejects = GateFailure("sellers", FIELD_COUNT_CHECK, None, "critical", 1, [{"part": "p", "line": 3, "fields": 6}],
                          "every record has the header's fields", rejects="file:///staging/rejects/sellers.csv")

    assert list(plain.to_dict()) == PLAIN_KEYS
    assert plain.to_dict()["column"] == ["seller_id", "seller_state"]
    assert list(error.to_dict()) == PLAIN_KEYS + ["error"]
    assert error.to_dict()["error"] == "RuntimeError: no such table"
    assert list(rejects.to_dict()) == PLAIN_KEYS + ["rejects"]
    for failure in (plain, error, rejects):
        assert GateFailure.from_dict(failure.to_dict()) == failure


def test_gate_result_json_is_the_stored_dict_shape_and_round_trips(settings):
    plain, error = plain_failure("warning"), gx_error(None, "GX returned 1 results for 2 expectations", settings)
    result = GateResult(name="gate-x", success=False, failed_expectations=[plain, error], results=[{"table": "sellers", "success": False}])

    # Byte for byte what a gate wrote when failures were dicts.
    assert result.to_json() == json.dumps({
        "name": "gate-x", "success": False,
        "failed_expectations": [
            {"table": "sellers", "expectation": "expect_column_values_to_be_unique", "column": ["seller_id", "seller_state"],
             "severity": "warning", "unexpected_count": 2, "sample_values": [{"seller_id": "a"}], "description": "one row per key"},
            {"table": None, "expectation": GX_ERROR, "column": None, "severity": "critical", "unexpected_count": None,
             "sample_values": [], "description": error.description, "error": "GX returned 1 results for 2 expectations"},
        ],
        "results": [{"table": "sellers", "success": False}], "data_docs": None,
    }, indent=2)
    stored = json.loads(result.to_json())
    assert [GateFailure.from_dict(f) for f in stored["failed_expectations"]] == [plain, error]
    assert result.critical_failures == [error]


def test_a_gx_error_is_critical_and_ends_the_gate_with_its_message(settings):
    warning = plain_failure("warning")
    error = gx_error("orders", ValueError("column  order_id\n missing"), settings, what="expect_column_values_to_be_unique", column="order_id")
    assert error.critical and error.severity == "critical" and error.column == "order_id"
    assert describe_failure(error) == "orders.order_id: gx_error: ValueError: column order_id missing"
    assert describe_failure(warning) == 'sellers.(seller_id, seller_state): expect_column_values_to_be_unique, 2 unexpected, e.g. [{"seller_id": "a"}]'

    # Warnings alone pass; one gx_error blocks, and the stored file keeps its error.
    passed = finish_gate(settings, "run-ok", GateResult(name="gate-x", success=False, failed_expectations=[warning]))
    assert passed.success
    with pytest.raises(GateFailed) as blocked:
        finish_gate(settings, "run-bad", GateResult(name="gate-x", success=True, failed_expectations=[warning, error]))
    assert blocked.value.result.success is False
    assert "gate-x failed: 1 critical failure(s)" in str(blocked.value)
    assert describe_failure(error) in str(blocked.value) and "seller_state" not in str(blocked.value)
    written = json.loads((settings.home / "gate_results" / "run-bad" / "gate-x.json").read_text())
    assert [(f["expectation"], f.get("error")) for f in written["failed_expectations"]] == [
        ("expect_column_values_to_be_unique", None), (GX_ERROR, "ValueError: column order_id missing")]
    assert "error" not in written["failed_expectations"][0]


def test_a_malformed_row_failure_names_its_rejects_file_in_the_stored_result(settings):
    area = open_staging(settings.staging_url)
    columns = list(get_table("sellers").staged_columns)
    writer = PartWriter(area, RUN, "sellers", columns, 10)
    writer.write([["0" * 32, "20040", "rio", "RJ", "2018-01-03 00:00:00"]])
    parts = writer.close()
    with area.reader(parts[0].key) as raw:
        text = gzip.decompress(raw.read()).decode()
    with area.writer(parts[0].key) as raw:
        raw.write(gzip.compress((text + "1" * 32 + ",20040,rio, centro,RJ,2018-01-03 00:00:00\n").encode()))
    parts[0].rows += 1
    extract = TableExtract(table="sellers", columns=columns, parts=parts)
    extract.rows = 2
    manifest = RunManifest(run_id=RUN, mode="incremental", created_at=datetime.now(timezone.utc).isoformat(), staging_url=area.url,
                           tables={"sellers": extract})

    with pytest.raises(GateFailed) as blocked:
        check_parts(settings, manifest)

    [failure] = blocked.value.result.critical_failures
    assert (failure.expectation, failure.unexpected_count, failure.rejects) == (FIELD_COUNT_CHECK, 1, area.uri(rejects_key(RUN, "sellers")))
    written = json.loads((settings.home / "gate_results" / RUN / f"{STAGED_GATE}.json").read_text())
    assert list(written["failed_expectations"][0]) == PLAIN_KEYS + ["rejects"]
    assert written["failed_expectations"][0]["rejects"] == failure.rejects


def test_the_blocked_message_is_made_from_the_summary_json(settings):
    error = gx_error("orders", "boom", settings)
    summary = {"run_id": RUN, "gates": [{"name": "gate-x", "success": False, "failed_expectations": [plain_failure("warning").to_dict(), error.to_dict()]}]}

    message = str(SyncBlocked(summary))

    assert f"Failed: [gate-x] {describe_failure(error)}" in message
    assert "seller_state" not in message  # a warning does not block, so it is not named
