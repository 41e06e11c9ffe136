"""'' and NULL stay apart from the source to the warehouse (olist_etl/stage.py's CSV dialect).

The staged parts write NULL as the unquoted marker NULL_MARKER and '' as an empty field; a value
equal to the marker is quoted. A real MariaDB source is synced into a real PostgreSQL warehouse
and the values are compared with queries on both; gate 1 must read the same dialect.
"""

from __future__ import annotations

import gzip
import io
import json

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.load import create_warehouse
from olist_etl.manifest import Part, RunManifest, TableExtract, part_key
from olist_etl.staging import open_staging
from olist_etl.stage import NULL_MARKER, StagedCsvReader, StagedCsvWriter
from olist_etl.gates.results import GateFailed
from olist_etl.gates.staged import run_staged_gate
from tests.support.services import make_settings

pytestmark = pytest.mark.integration

# Review titles that must arrive exactly as they are in the source (None = NULL).
TITLES = {
    "empty": "",
    "null": None,
    "marker": NULL_MARKER,
    "backslash_n": "\\N",
    "null_word": "NULL",
    "quoted_marker": f'"{NULL_MARKER}"',
    "blank": "  ",
    "tricky": 'Disse "ótimo", chegou;\nsegunda linha\r\nterceira\rção 😀👍🏽',
}


# --- the dialect, without services -----------------------------------------------------------


def _round_trip(rows: list[tuple]) -> tuple[str, list[list]]:
    text = io.StringIO(newline="")
    StagedCsvWriter(text).writerows(rows)
    return text.getvalue(), list(StagedCsvReader(io.StringIO(text.getvalue(), newline="")))


def test_null_empty_and_the_marker_text_round_trip_through_a_part():
    rows = [tuple(TITLES.values()), (None, "", None, "", NULL_MARKER, None, "x", "y"), (1.5, 7, None, "", "a\rb", NULL_MARKER, "", None)]
    text, back = _round_trip(rows)
    assert back[0] == list(TITLES.values())
    assert back[1] == [None, "", None, "", NULL_MARKER, None, "x", "y"]
    assert back[2] == ["1.5", "7", None, "", "a\rb", NULL_MARKER, "", None]
    # On the wire: NULL unquoted, the marker text quoted, a lone CR quoted (COPY would take it for a line end).
    assert f'\n{NULL_MARKER},"",{NULL_MARKER},"","{NULL_MARKER}",{NULL_MARKER},"x","y"\n' in text
    assert '"a\rb"' in text


def test_a_reader_that_ignores_quoting_would_read_the_marker_text_as_null():
    # The failing side of the test above: why gate 1 needs StagedCsvReader and not csv.reader.
    import csv

    text, _ = _round_trip([(NULL_MARKER, None)])
    plain = next(csv.reader(io.StringIO(text, newline="")))
    assert plain == [NULL_MARKER, NULL_MARKER]  # indistinguishable without the quoting


# --- end to end: MariaDB -> staged parts -> PostgreSQL -----------------------------------------


@pytest.fixture
def pipeline(monkeypatch, olist_home, mariadb_url, postgres_url, tmp_path, prefect_api):
    env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": (tmp_path / "staging").as_uri(),
        "OLIST_LOOKBACK_MINUTES": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OLIST_MAX_REJECTED_ROWS", raising=False)
    source, warehouse = sa.create_engine(mariadb_url), sa.create_engine(postgres_url)
    yield env, source, warehouse
    source.dispose()
    warehouse.dispose()


def _sync(capsys, mode: str) -> dict:
    code = main(["sync", "--mode", mode, "--json"])
    out = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    summary = json.loads(out[-1])
    assert code == 0 and summary["status"] == "promoted", summary
    return summary


def _source_titles(source: sa.Engine, ids: dict[str, str]) -> dict[str, str | None]:
    with source.connect() as conn:
        rows = dict(conn.execute(sa.text("select review_id, review_comment_title from order_reviews where review_id in :ids")
                                 .bindparams(sa.bindparam("ids", expanding=True)), {"ids": list(ids.values())}).all())
    return {name: rows[review_id] for name, review_id in ids.items()}


def _warehouse_titles(warehouse: sa.Engine, ids: dict[str, str]) -> dict[str, str | None]:
    with warehouse.connect() as conn:
        rows = dict(conn.execute(sa.text("select review_id, review_comment_title from user_access_layer.fact_reviews where review_id = any(:ids)"),
                                 {"ids": list(ids.values())}).all())
    return {name: rows[review_id] for name, review_id in ids.items()}


def _null_and_empty_counts(engine: sa.Engine, table: str, review_ids: list[str]) -> tuple[int, int]:
    with engine.connect() as conn:
        query = sa.text(f"select sum(case when review_comment_title is null then 1 else 0 end), "
                        # length(): MariaDB's PAD SPACE collations compare '  ' equal to ''.
                        f"sum(case when length(review_comment_title) = 0 then 1 else 0 end) from {table} where review_id in :ids")
        return tuple(int(v or 0) for v in conn.execute(query.bindparams(sa.bindparam("ids", expanding=True)), {"ids": review_ids}).one())


def test_empty_null_and_marker_text_sync_exactly_and_follow_incremental_changes(pipeline, capsys):
    env, source, warehouse = pipeline
    assert main(["seed-source", "--scale", "0.01", "--seed", "5"]) == 0
    capsys.readouterr()
    with source.begin() as conn:
        picked = [r for (r,) in conn.execute(sa.text("select review_id from order_reviews order by review_id limit :n"), {"n": len(TITLES)})]
        ids = dict(zip(TITLES, picked))
        for name, review_id in ids.items():
            conn.execute(sa.text("update order_reviews set review_comment_title = :t where review_id = :r"), {"t": TITLES[name], "r": review_id})

    _sync(capsys, "full")

    expected = dict(TITLES)
    assert _source_titles(source, ids) == expected
    assert _warehouse_titles(warehouse, ids) == expected  # '' is '', NULL is NULL, the marker text is text
    # Same counts of NULL and '' on both sides, over the whole table too.
    all_ids = [r for (r,) in source.connect().execute(sa.text("select review_id from order_reviews"))]
    assert _null_and_empty_counts(source, "order_reviews", all_ids) == _null_and_empty_counts(warehouse, "user_access_layer.fact_reviews", all_ids)

    # Incremental: '' becomes NULL and NULL becomes '' (and the marker text becomes NULL).
    with source.begin() as conn:
        conn.execute(sa.text("update order_reviews set review_comment_title = null where review_id in (:a, :m)"), {"a": ids["empty"], "m": ids["marker"]})
        conn.execute(sa.text("update order_reviews set review_comment_title = '' where review_id = :n"), {"n": ids["null"]})
    _sync(capsys, "incremental")
    expected.update(empty=None, marker=None, null="")
    assert _source_titles(source, ids) == expected
    assert _warehouse_titles(warehouse, ids) == expected

    # And back.
    with source.begin() as conn:
        conn.execute(sa.text("update order_reviews set review_comment_title = '' where review_id = :a"), {"a": ids["empty"]})
        conn.execute(sa.text("update order_reviews set review_comment_title = :m where review_id = :r"), {"m": NULL_MARKER, "r": ids["marker"]})
        conn.execute(sa.text("update order_reviews set review_comment_title = null where review_id = :n"), {"n": ids["null"]})
    _sync(capsys, "incremental")
    expected.update(empty="", marker=NULL_MARKER, null=None)
    assert _warehouse_titles(warehouse, ids) == expected


# --- gate 1 reads the dialect ---------------------------------------------------------------


def _stage_items(area, run_id: str, price: str) -> RunManifest:
    columns = ["order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price", "freight_value", "updated_at"]
    good = ["a" * 32, "1", "b" * 32, "c" * 32, "2018-01-03 10:00:00", "10.50", "2.00", "2018-01-03 10:00:00.000000"]
    bad = ["d" * 32, "1", "b" * 32, "c" * 32, "2018-01-03 10:00:00", price, None, "2018-01-03 10:00:00.000000"]
    text = io.StringIO(newline="")
    writer = StagedCsvWriter(text)
    writer.writerow(columns)
    writer.writerows([good, bad])
    key = part_key(run_id, "order_items", 0)
    data = gzip.compress(text.getvalue().encode("utf-8"))
    with area.writer(key) as out:
        out.write(data)
    items = TableExtract(table="order_items", columns=columns, rows=2, parts=[Part(key=key, rows=2, bytes=len(data))])
    return RunManifest(run_id=run_id, mode="incremental", created_at="2018-01-04T00:00:00+00:00", tables={"order_items": items})


@pytest.fixture
def gate_area(olist_home, tmp_path, postgres_url):
    # Gate 1 runs GX on the landing tables in the warehouse.
    url = (tmp_path / "staging").as_uri()
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url, staging_url=url)
    create_warehouse(settings)
    return open_staging(url), settings


@pytest.mark.integration
def test_gate_1_passes_a_null_number_but_rejects_an_empty_string_naming_column_and_value(gate_area):
    area, settings = gate_area
    # Passing side: a NULL freight_value (unquoted marker) is a NULL, not a bad number.
    run_staged_gate(settings, _stage_items(area, "run-null", "3.00"), previous_rows={})

    # Failing side: '' in price is a bad value, named with table, column and value.
    manifest = _stage_items(area, "run-empty", "")
    with pytest.raises(GateFailed) as caught:
        run_staged_gate(settings, manifest, previous_rows={})
    # '' does not match the decimal pattern; the NULL freight_value beside it is not reported.
    failures = caught.value.result.critical_failures
    assert [(f.table, f.column, f.expectation) for f in failures] == [("order_items", "price", "expect_column_values_to_match_regex")]
    assert failures[0].sample_values == [""] and failures[0].unexpected_count == 1
