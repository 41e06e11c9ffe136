"""The post-merge suite (expectations/post_merge/star_schema.json) inside promote's transaction,
against a real PostgreSQL warehouse (the `warehouse` fixture of tests/conftest.py)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from olist_etl.merge import promote
from olist_etl.gates.post_merge import GATE_NAME as POST_MERGE_GATE, post_merge_document
from olist_etl.gates.results import GateFailed
from olist_etl.gates.suites import suite_from_dict
from tests.support.tables import assert_tables_unchanged
from tests.support.merge_batches import S1, T1, first_batch, load_run, snapshot
from tests.support.warehouse import hexid

pytestmark = pytest.mark.integration


def test_post_merge_suite_passes_a_clean_promote_and_rolls_back_one_that_bypassed_the_gates(warehouse, capfd):
    settings, engine, area = warehouse
    suite_from_dict(post_merge_document())  # a valid GX suite file
    capfd.readouterr()
    promote(settings, load_run(settings, area, "r1", first_batch()))
    # GX prints a warning for a query without {batch}; a sync's output must not carry it.
    assert "{batch}" not in capfd.readouterr().out
    passed = json.loads((settings.home / "gate_results" / "r1" / f"{POST_MERGE_GATE}.json").read_text())
    assert passed["success"] is True and len(passed["results"][0]["expectations"]) == 27
    before = snapshot(engine)

    # An item whose product exists nowhere reaches promote only when the gates are bypassed, as here.
    missing = hexid(9, "p")
    manifest = load_run(settings, area, "r2", {"order_items": [(hexid(1, "o"), 7, missing, S1, None, Decimal("1.00"), Decimal("0.10"), T1)]})
    with pytest.raises(GateFailed) as info:
        promote(settings, manifest)

    failures = info.value.result.critical_failures
    assert [(f.table, f.column, f.unexpected_count) for f in failures] == [("fact_order_items", "product_id", 1)]
    assert missing in json.dumps(failures[0].sample_values)
    assert "fact_order_items.product_id: unexpected_row_count_expectation, 1 unexpected" in str(info.value)
    after = snapshot(engine)
    assert_tables_unchanged(before["star"], after["star"])
    assert (after["watermarks"], after["runs"]) == (before["watermarks"], before["runs"])


@pytest.mark.parametrize("table,rows", [
    ("fact_order_items", {"order_items": [(hexid(9, "o"), 1, hexid(1, "p"), S1, None, Decimal("1.00"), Decimal("0.10"), T1)]}),
    ("fact_payments", {"order_payments": [(hexid(9, "o"), 1, "voucher", 1, Decimal("5.00"), T1)]}),
    ("fact_reviews", {"order_reviews": [(hexid(9, "r"), hexid(9, "o"), 4, None, None, None, None, T1)]}),
])
def test_a_fact_row_whose_order_is_nowhere_is_caught_and_rolled_back(warehouse, table, rows):
    # Arrange: the gates bypassed, a fact row of this run points at an order no run ever staged.
    settings, engine, area = warehouse
    promote(settings, load_run(settings, area, "r1", first_batch()))
    before = snapshot(engine)
    manifest = load_run(settings, area, "r2", rows)

    # Act
    with pytest.raises(GateFailed) as info:
        promote(settings, manifest)

    # Assert: exactly that row, in that table, under the order check; nothing promoted.
    failures = info.value.result.critical_failures
    assert [(f.table, f.column, f.unexpected_count) for f in failures if f.column == "order_id"] == [(table, "order_id", 1)]
    assert hexid(9, "o") in json.dumps([f.sample_values for f in failures])
    assert_tables_unchanged(before["star"], snapshot(engine)["star"])
