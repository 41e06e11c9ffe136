"""End to end with the real services: MariaDB source, S3 staging on a moto server, PostgreSQL
warehouse, driven through the `olist-etl` command line like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.staging import open_staging
from tests.support.tables import assert_tables_unchanged, table_checksums
from tests.support.pipeline import assert_facts_match_source, source_counts, watermarks

# both_runners: run.py test runs these again with every sync on the Dask task runner.
pytestmark = [pytest.mark.integration, pytest.mark.both_runners]



@pytest.fixture
def pipeline_env(monkeypatch, olist_home, mariadb_url, postgres_url, s3_staging_url, prefect_api):
    env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": s3_staging_url,
        "OLIST_PART_ROWS": "1500",  # several parts per big table
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def sync_json(capsys, mode: str) -> tuple[int, dict]:
    code, out = run_cli(capsys, "sync", "--mode", mode, "--json")
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got: {out!r}"
    return code, json.loads(lines[0])


def test_full_then_incremental_sync_matches_the_source_and_is_idempotent(pipeline_env, capsys):
    # Arrange: a small synthetic source in MariaDB.
    assert run_cli(capsys, "seed-source", "--scale", "0.02", "--seed", "5")[0] == 0
    seeded = source_counts(pipeline_env["OLIST_SOURCE_URL"])

    # Act: full sync.
    code, full = sync_json(capsys, "full")

    # Assert: every source row extracted and loaded; facts hold exactly the source's rows.
    assert code == 0, full
    assert full["status"] == "promoted" and full["mode"] == "full"
    assert {t: c["extracted"] for t, c in full["tables"].items()} == seeded
    assert {t: c["loaded"] for t, c in full["tables"].items()} == seeded
    assert all(g["success"] for g in full["gates"]) and full["gates"]
    assert full["data_docs"]
    assert_facts_match_source(pipeline_env)
    staged = open_staging(pipeline_env["OLIST_STAGING_URL"]).list(f"runs/{full['run_id']}/")
    assert f"runs/{full['run_id']}/manifest.json" in staged
    assert len([k for k in staged if k.startswith(f"runs/{full['run_id']}/geolocation/part-")]) > 1

    # Act: change the source, then sync incrementally.
    code, out = run_cli(capsys, "simulate-changes", "--seed", "11")
    assert code == 0, out
    code, incremental = sync_json(capsys, "incremental")

    # Assert: only the changed rows travelled; the warehouse matches the source again.
    assert code == 0, incremental
    assert incremental["status"] == "promoted"
    assert 0 < incremental["tables"]["orders"]["extracted"] < full["tables"]["orders"]["extracted"]
    assert_facts_match_source(pipeline_env)
    wh = sa.create_engine(pipeline_env["OLIST_WAREHOUSE_URL"])
    src = sa.create_engine(pipeline_env["OLIST_SOURCE_URL"])
    with src.connect() as conn:
        source_status = dict(conn.execute(sa.text("select order_id, order_status from orders")).all())
    with wh.connect() as conn:
        warehouse_status = dict(conn.execute(sa.text("select order_id, order_status from user_access_layer.fact_orders")).all())
    assert warehouse_status == source_status

    # Act: the same incremental again (the lookback window re-extracts the last changes).
    before = table_checksums(wh, "user_access_layer")
    marks = watermarks(pipeline_env["OLIST_WAREHOUSE_URL"])
    code, again = sync_json(capsys, "incremental")

    # Assert: nothing changed in dims, facts or watermarks.
    assert code == 0, again
    assert again["tables"]["orders"]["extracted"] > 0, "the lookback window should re-extract recent rows"
    assert_tables_unchanged(before, table_checksums(wh, "user_access_layer"))
    assert watermarks(pipeline_env["OLIST_WAREHOUSE_URL"]) == marks
    wh.dispose()
    src.dispose()


def test_an_orphan_order_item_blocks_the_sync_and_changes_nothing(pipeline_env, capsys):
    # Arrange: a promoted full sync, then an order item whose product does not exist.
    assert run_cli(capsys, "seed-source", "--scale", "0.01", "--seed", "8")[0] == 0
    code, full = sync_json(capsys, "full")
    assert code == 0, full
    wh = sa.create_engine(pipeline_env["OLIST_WAREHOUSE_URL"])
    before = table_checksums(wh, "user_access_layer")
    marks = watermarks(pipeline_env["OLIST_WAREHOUSE_URL"])
    src = sa.create_engine(pipeline_env["OLIST_SOURCE_URL"])
    with src.begin() as conn:
        order_id, seller_id = conn.execute(sa.text("select order_id, seller_id from order_items order by order_id limit 1")).one()
        conn.execute(
            sa.text(
                "insert into order_items (order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value)"
                " values (:o, 99, :p, :s, '2018-01-01 00:00:00', 10.50, 1.25)"
            ),
            {"o": order_id, "p": "f" * 32, "s": seller_id},
        )

    # Act: the next sync, as a user runs it.
    proc = subprocess.run(
        [sys.executable, "-m", "olist_etl.app.cli", "sync", "--mode", "incremental", "--json"],
        capture_output=True, text=True, env=dict(os.environ), timeout=600,
    )

    # Assert: exit 2, status blocked, the orphan expectation named; the warehouse untouched.
    assert proc.returncode == 2, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["status"] == "blocked"
    failed = [f for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical"]
    assert any(f["table"] == "order_items" and "product" in json.dumps(f) for f in failed), failed
    assert_tables_unchanged(before, table_checksums(wh, "user_access_layer"))
    assert watermarks(pipeline_env["OLIST_WAREHOUSE_URL"]) == marks
    wh.dispose()
    src.dispose()
