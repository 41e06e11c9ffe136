"""Differential test: the gates' verdicts equal GX's own on the same rows.

For every staged and delta suite, generated batches (nulls, empty strings, malformed text, markup,
boundary values on both sides of every range, duplicates) are run through the gate (GX's SQL engine
on the landing tables and the delta tables) and through GX's pandas engine on the same rows as a
DataFrame; every expectation must agree on success and unexpected count, with the suites as they
are and with `mostly: 0.5` added to every column expectation. Plus the kwargs that matter most:
`mostly` passing one bad value among many (and failing beside it), and a malformed part rejected
with its part key and line before anything reaches the typed tables.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from olist_etl.gates import staged as gate1
from olist_etl.gates.delta import run_delta_gate
from olist_etl.gates.results import GateFailed
from olist_etl.gates.suites import load_document, suite_from_dict
from olist_etl.load import load_table
from olist_etl.tables import TABLE_NAMES, UPDATED_AT, get_table
from tests.support.warehouse import stage_run

pytestmark = pytest.mark.integration

STAMP = datetime(2018, 1, 3, 0, 0, 0)

# Edge values per kind, cycled through the batch's rows column by column: NULL, boundaries on both
# sides of the suites' ranges, malformed text (staged only) and markup.
GOOD = {"id": "0" * 31 + "1", "zip": "01310", "state": "SP", "text": "delivered", "int": "1", "money": "10.00",
        "float": "-23.5", "timestamp": "2018-01-02 10:00:00", "date": "2018-01-02"}
EDGES = {
    "id": [None, "f" * 32, "0" * 31 + "1"],
    "zip": [None, "1310", "99999", "01310"],
    "state": [None, "XX", "SP", "RJ"],
    "text": [None, "", "<svg/onload=alert(1)>", "delivered", "canceled", "credit_card", "beleza_saude"],
    "int": [None, "0", "-1", "1", "5", "6", "2147483647"],
    "money": [None, "0.00", "-0.01", "0.01", "99999999.99"],
    "float": [None, "0", "-90", "90.0001", "-33.7", "5.27"],
    "timestamp": [None, "2015-01-01 00:00:00", "2014-12-31 23:59:59", "2036-01-01 00:00:00", "2035-12-31 23:59:59",
                  "2018-01-02 10:00:00.5", "2017-06-01 00:00:00"],
}
EDGES["date"] = EDGES["timestamp"]
MALFORMED = {"int": ["1.5", "x", "", "1" * 19], "money": ["1,25", "", "1" * 33], "float": ["nan", "", "1" * 32], "timestamp": ["2018-13-01 00:00:00", "yesterday", ""],
             "zip": ["abcde"]}
ROWS = 60


def kinds(table: str) -> dict[str, str]:
    spec = get_table(table)
    return {c.name: c.kind for c in spec.columns} | {UPDATED_AT: "timestamp"}


def batch(table: str, *, malformed: bool) -> list[list]:
    """Rows of text (None = NULL) in staged column order; updated_at stays a valid timestamp."""
    columns = kinds(table)
    rows = []
    for i in range(ROWS):
        row = []
        for j, (name, kind) in enumerate(columns.items()):
            if name == UPDATED_AT:
                row.append("2018-01-03 00:00:00")
                continue
            values = EDGES[kind] + (MALFORMED.get(kind, []) if malformed else [])
            # Most rows good, the rest cycle through the edges at a per-column offset.
            row.append(GOOD[kind] if i % 3 == 0 else values[(i + j) % len(values)])
        rows.append(row)
    return rows


def with_mostly(document: dict, mostly: float) -> dict:
    changed = copy.deepcopy(document)
    for entry in changed["expectations"]:
        if entry["type"].startswith("expect_column_values") or entry["type"].startswith("expect_column_pair"):
            entry["kwargs"]["mostly"] = mostly
    return changed


def stage(area, run_id: str, text_rows: dict[str, list[list]]):
    rows = {t: [tuple(r[:-1]) + (STAMP,) for r in table_rows] for t, table_rows in text_rows.items()}
    manifest = stage_run(area, run_id, rows)
    return replace(manifest, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc).isoformat())


def gate_verdicts(result) -> dict:
    """(type, kwargs) -> (success, unexpected_count, observed) from a gate's result."""
    out = {}
    for table in result.results:
        for e in table.get("expectations", []):
            if "kwargs" in e:
                out[(table["table"], e["expectation"], _key(e["kwargs"]))] = (e["success"], e["unexpected_count"], e["observed_value"])
    return out


def _key(kwargs: dict) -> str:
    kwargs = {k: v for k, v in kwargs.items() if k not in ("batch_id", "result_format")}
    return json.dumps(kwargs, sort_keys=True, default=str)


def _typed_frame(table: str, text_rows: list[list]) -> pd.DataFrame:
    """The typed view's values, computed in Python: well-formed text parsed, anything else None."""
    columns = kinds(table)
    out = {}
    for index, (name, kind) in enumerate(columns.items()):
        values = []
        pattern = gate1.PATTERNS.get(kind)
        for row in text_rows:
            value = row[index]
            if pattern is None or value is None:
                values.append(value)
            elif not re.search(pattern, value) or len(value) > gate1.MAX_LENGTHS.get(kind, len(value)):
                values.append(None)
            elif kind in ("timestamp", "date"):
                values.append(pd.Timestamp(value))
            elif kind == "int":
                values.append(int(value))
            elif kind == "money":
                values.append(Decimal(value))
            else:
                values.append(float(value))
        out[name] = pd.Series(values, dtype="datetime64[ns]" if kind in ("timestamp", "date") else object)
    return pd.DataFrame(out)


def pandas_verdicts(table: str, document: dict, frame: pd.DataFrame, parameters: dict) -> dict:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    batch_definition = context.data_sources.add_pandas("pandas").add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(suite_from_dict(document))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=table, data=batch_definition, suite=suite))
    validation = definition.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters,
                                result_format={"result_format": "SUMMARY"})
    out = {}
    for item in validation.results:
        config = item.expectation_config
        result = item.result or {}
        count = result.get("unexpected_count")
        observed = result.get("observed_value") if config.type.startswith("expect_table") else None
        out[(table, config.type, _key(config.kwargs))] = (item.success, count, observed)
    return out


def _expected(manifest, text_rows: dict[str, list[list]], suites: dict[str, dict]) -> dict:
    expected = {}
    for table, rows in text_rows.items():
        text, typed = gate1.split_suite(table, suites[table])
        parameters = gate1.suite_parameters(manifest, table, None)
        frame = pd.DataFrame(rows, columns=list(kinds(table)), dtype=object)
        expected |= pandas_verdicts(table, text, frame, parameters)
        if typed["expectations"]:
            expected |= pandas_verdicts(table, typed, _typed_frame(table, rows), parameters)
    return expected


def _compare(got: dict, expected: dict) -> None:
    """Success and unexpected count per expectation; table-level ones by their observed value."""
    assert set(got) == set(expected)

    def verdict(key, value):
        success, count, observed = value
        return (success, observed) if key[1].startswith("expect_table") else (success, count)

    differ = {k: (got[k], expected[k]) for k in expected if verdict(k, got[k]) != verdict(k, expected[k])}
    assert differ == {}


@pytest.mark.parametrize("mostly", [None, 0.5])
@pytest.mark.parametrize("malformed", [False, True])
def test_gate_1_agrees_with_gx_pandas_on_every_staged_suite(warehouse, mostly, malformed):
    settings, _engine, area = warehouse
    text_rows = {t: batch(t, malformed=malformed) for t in TABLE_NAMES}
    suites = {t: load_document("staged", t) for t in TABLE_NAMES}
    if mostly is not None:
        suites = {t: with_mostly(d, mostly) for t, d in suites.items()}
    manifest = stage(area, "diff-staged", text_rows)

    try:
        result = gate1.run_staged_gate(settings, manifest, previous_rows={}, suites=suites).result
    except GateFailed as blocked:
        result = blocked.result
    assert not [f for f in result.failed_expectations if f.expectation == "gx_error"]

    got = gate_verdicts(result)
    _compare(got, _expected(manifest, text_rows, suites))
    # The batches reach every expectation type in use, and some of each fail.
    assert {k[1] for k in got} >= {"expect_column_values_to_match_regex", "expect_column_values_to_be_in_set",
                                   "expect_column_values_to_be_between", "expect_column_pair_values_a_to_be_greater_than_b",
                                   "expect_column_values_to_not_be_null", "expect_table_row_count_to_equal"}
    assert any(not v[0] for v in got.values()) and any(v[0] for v in got.values())


@pytest.mark.parametrize("mostly", [None, 0.5])
def test_gate_2_agrees_with_gx_pandas_on_every_delta_suite(warehouse, mostly):
    settings, engine, area = warehouse
    text_rows = {t: batch(t, malformed=False) for t in TABLE_NAMES}
    # Typed delta columns reject what does not fit them; those edges belong to gate 1. Key columns
    # stay non-NULL here: GX's SQL and pandas engines count a compound key with a NULL part
    # differently (the SQL engine skips it), and a NULL key is the not-null check's, compared too.
    for table, rows in text_rows.items():
        keys = get_table(table).primary_key
        for index, (name, kind) in enumerate(kinds(table).items()):
            for number, row in enumerate(rows):
                if kind == "zip" and row[index] is not None and len(row[index]) != 5:
                    row[index] = "01310"
                if name in keys and row[index] is None:
                    row[index] = GOOD[kind] if kind != "id" else f"{number:032x}"
    manifest = stage(area, "diff-delta", text_rows)
    for table in TABLE_NAMES:
        load_table(settings, manifest, table)
    documents = {t: load_document("delta", t) for t in TABLE_NAMES}
    if mostly is not None:
        documents = {t: with_mostly(d, mostly) for t, d in documents.items()}

    try:
        result = run_delta_gate(settings, manifest, suites={t: suite_from_dict(d) for t, d in documents.items()})
    except GateFailed as blocked:
        result = blocked.result
    assert not [f for f in result.failed_expectations if f.expectation == "gx_error"]
    got = gate_verdicts(result)

    expected = {}
    for table in TABLE_NAMES:
        # GX pandas on exactly what the delta table holds; the SQL-only checks are left to the gate.
        document = dict(documents[table], expectations=[e for e in documents[table]["expectations"] if e["type"] != "unexpected_row_count_expectation"])
        with engine.connect() as conn:
            frame = pd.read_sql(sa.text(f'select * from staging_layer."{table}"'), conn)
        frame = frame.astype(object).where(frame.notna(), None)
        for name in frame.columns:
            if frame[name].map(lambda v: isinstance(v, str)).any():
                frame[name] = frame[name].map(lambda v: v.rstrip() if isinstance(v, str) else v)  # char(n) padding
        expected |= pandas_verdicts(table, document, frame, {"manifest_rows": manifest.tables[table].rows})
    _compare({k: v for k, v in got.items() if k[1] != "unexpected_row_count_expectation"}, expected)
    assert any(not v[0] for v in got.values())


def test_mostly_half_passes_one_bad_status_among_many_and_fails_when_half_are_bad(warehouse):
    settings, _engine, area = warehouse
    document = load_document("staged", "orders")
    document = dict(document, expectations=[e for e in document["expectations"] if e["type"] != "expect_column_values_to_be_in_set"]
                    + [{"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "order_status", "value_set": ["delivered"], "mostly": 0.5},
                        "meta": {"severity": "critical"}}])
    good = [GOOD[k] if n != UPDATED_AT else "2018-01-03 00:00:00" for n, k in kinds("orders").items()]

    def orders(bad: int, total: int) -> list[list]:
        rows = [list(good) for _ in range(total)]
        for i, row in enumerate(rows):
            row[0] = f"{i:032x}"
            row[2] = "teleported" if i < bad else "delivered"
        return rows

    passed = gate1.run_staged_gate(settings, stage(area, "mostly-pass", {"orders": orders(1, 1000)}), previous_rows={}, suites={"orders": document})
    status = [e for r in passed.result.results if r["table"] == "orders" for e in r["expectations"] if e["expectation"] == "expect_column_values_to_be_in_set"]
    assert [(e["success"], e["unexpected_count"]) for e in status] == [(True, 1)]

    with pytest.raises(GateFailed) as blocked:
        gate1.run_staged_gate(settings, stage(area, "mostly-fail", {"orders": orders(501, 1000)}), previous_rows={}, suites={"orders": document})
    assert [(f.column, f.unexpected_count) for f in blocked.value.result.critical_failures] == [("order_status", 501)]


@pytest.mark.parametrize("damage", ["field count", "broken quote"])
def test_a_malformed_part_is_rejected_with_its_key_and_line_before_the_typed_load(warehouse, damage):
    import gzip

    settings, engine, area = warehouse
    good = [GOOD[k] if n != UPDATED_AT else "2018-01-03 00:00:00" for n, k in kinds("sellers").items()]
    manifest = stage(area, "malformed", {"sellers": [[f"{i:032x}"] + good[1:] for i in range(3)]})
    key = manifest.tables["sellers"].parts[0].key
    with area.reader(key) as raw:
        text = gzip.decompress(raw.read()).decode()
    text += "abc,20040,rio,RJ,extra,2018-01-03 00:00:00\n" if damage == "field count" else 'abc,"20040,rio,RJ,2018-01-03 00:00:00\n'
    with area.writer(key) as out:
        out.write(gzip.compress(text.encode()))
    manifest.tables["sellers"].rows += 1
    manifest.tables["sellers"].parts[0].rows += 1
    with engine.begin() as conn:
        conn.exec_driver_sql('truncate staging_layer."sellers"')

    with pytest.raises(GateFailed) as blocked:
        gate1.run_staged_gate(settings, manifest, previous_rows={})

    [failure] = blocked.value.result.critical_failures
    assert failure.expectation == "expect_table_column_count_to_equal"
    assert failure.sample_values[0]["part"] == key and failure.sample_values[0]["line"] == 5
    with engine.connect() as conn:
        assert conn.exec_driver_sql('select count(*) from staging_layer."sellers"').scalar() == 0
        # Not even landed: the structural pass ends the gate before any COPY.
        assert not sa.inspect(conn).has_table("landing_sellers", schema="staging_layer")
