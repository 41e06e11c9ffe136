"""After every promoted run the warehouse equals the source, proven by a cross-database comparison
(olist_etl.warehouse.compare), against the real MariaDB and PostgreSQL: deletes, key changes, rows
set back or corrected with an equal updated_at, late commits, a warehouse tampered with, and a
source with no updated_at at all."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from olist_etl.tables import TABLE_NAMES
from tests.support.tables import assert_tables_unchanged, table_checksums
from tests.support.truth import SET_BACK, cli_json, differences, execute, one, random_changes, run_cli, sync_json, tamper_warehouse

# both_runners: run.py test runs these again with every sync on the Dask task runner.
pytestmark = [pytest.mark.integration, pytest.mark.both_runners]


@pytest.fixture
def pipeline_env(monkeypatch, olist_home, mariadb_url, postgres_url, tmp_path, prefect_api):
    env = {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": (tmp_path / "staging").as_uri(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def synced(pipeline_env, capsys):
    """A small seeded source after a promoted full sync."""
    assert run_cli(capsys, "seed-source", "--scale", "0.005", "--seed", "21")[0] == 0
    code, full = sync_json(capsys, "full")
    assert code == 0, full
    assert differences(pipeline_env["OLIST_SOURCE_URL"], pipeline_env["OLIST_WAREHOUSE_URL"]) == {}
    return pipeline_env


def test_an_incremental_brings_deletes_key_changes_and_rows_the_window_cannot_see(synced, capsys):
    # Arrange: deletes, an item renumbered, a row set back in time, and a late commit stamped
    # before the lookback window.
    src, wh = synced["OLIST_SOURCE_URL"], synced["OLIST_WAREHOUSE_URL"]
    payment = one(src, "select order_id, payment_sequential from order_payments order by order_id limit 1")
    review = one(src, "select review_id, order_id from order_reviews order by review_id limit 1")
    item = one(src, "select order_id, order_item_id, price from order_items order by order_id desc limit 1")
    order = one(src, "select order_id from orders order by order_id limit 1 offset 3")
    product = one(src, "select product_id, product_weight_g from products order by product_id limit 1")
    execute(src, [
        ("delete from order_payments where order_id = :o and payment_sequential = :s", {"o": payment[0], "s": payment[1]}),
        ("delete from order_reviews where review_id = :r and order_id = :o", {"r": review[0], "o": review[1]}),
        ("update order_items set order_item_id = 42 where order_id = :o and order_item_id = :i", {"o": item[0], "i": item[1]}),
        ("update orders set order_status = 'unavailable', updated_at = :t where order_id = :o", {"t": SET_BACK, "o": order[0]}),
        ("update products set product_weight_g = :w, updated_at = :t where product_id = :p",
         {"w": (product[1] or 0) + 7, "t": SET_BACK, "p": product[0]}),
        ("insert into order_payments (order_id, payment_sequential, payment_type, payment_installments, payment_value, updated_at) "
         "values (:o, 99, 'voucher', 1, 3.50, :t)", {"o": order[0], "t": datetime.utcnow() - timedelta(days=3)}),
    ])

    # Act
    code, summary = sync_json(capsys, "incremental")

    # Assert: promoted, and the warehouse equals the source, key by key and column by column.
    assert code == 0, summary
    assert differences(src, wh) == {}
    assert summary["deleted"]["fact_payments"] == 1 and summary["deleted"]["fact_reviews"] == 1
    assert summary["deleted"]["fact_order_items"] == 1
    assert summary["tables"]["orders"]["fetched_by_key"] >= 1
    assert summary["tables"]["products"]["fetched_by_key"] >= 1
    # The item is counted once, under its new key, and its order's total follows.
    assert one(wh, "select count(*) from user_access_layer.fact_order_items where order_id = :o and deleted_at is null "
                   "and order_item_id = :i", o=item[0], i=item[1])[0] == 0
    assert one(wh, "select price from user_access_layer.fact_order_items where order_id = :o and order_item_id = 42 "
                   "and deleted_at is null", o=item[0])[0] == item[2]


def test_a_full_sync_is_the_truth_whatever_the_timestamps_say(synced, capsys):
    # Arrange: the warehouse drifts (a cent, a row lost, an extra row), and the source corrects a
    # row with an OLDER updated_at than the one promoted.
    src, wh = synced["OLIST_SOURCE_URL"], synced["OLIST_WAREHOUSE_URL"]
    item, payment = tamper_warehouse(wh, extra_review="f" * 32)
    seller = one(src, "select seller_id from sellers order by seller_id limit 1")[0]
    product = one(src, "select product_id from products order by product_id limit 1")[0]
    execute(src, [
        ("update sellers set seller_city = 'cidade corrigida', updated_at = :t where seller_id = :s", {"t": SET_BACK, "s": seller}),
        # A correction that keeps its updated_at exactly as promoted.
        ("update products set product_height_cm = 99, updated_at = updated_at where product_id = :p", {"p": product}),
    ])
    assert set(differences(src, wh)) == {"order_items", "order_payments", "order_reviews", "sellers", "products"}

    # Act
    code, summary = sync_json(capsys, "full")

    # Assert
    assert code == 0, summary
    assert differences(src, wh) == {}
    assert one(wh, "select seller_city from user_access_layer.dim_seller where seller_id = :s and is_current", s=seller)[0] == "cidade corrigida"
    assert one(wh, "select product_height_cm from user_access_layer.dim_product where product_id = :p and is_current", p=product)[0] == 99


def test_random_changes_round_after_round_leave_no_difference(synced, capsys):
    # Arrange: fixed seeds, so a failure reproduces.
    src, wh = synced["OLIST_SOURCE_URL"], synced["OLIST_WAREHOUSE_URL"]
    rng = random.Random(20261201)

    for round_number in range(4):
        # Act
        done = random_changes(src, rng, size=3)
        code, summary = sync_json(capsys, "incremental")

        # Assert
        assert code == 0, (round_number, done, summary)
        assert differences(src, wh) == {}, (round_number, done)

    # A full sync afterwards changes nothing: the incrementals left nothing behind.
    before = table_checksums(sa.create_engine(wh), "user_access_layer")
    code, summary = sync_json(capsys, "full")
    assert code == 0, summary
    assert_tables_unchanged(before, table_checksums(sa.create_engine(wh), "user_access_layer"))

    # Corrections that keep updated_at: a diff sync (every column compared) brings them, and a
    # full sync after it again changes nothing.
    done = random_changes(src, rng, size=3, equal_timestamps=True)
    code, summary = sync_json(capsys, "diff")
    assert code == 0, (done, summary)
    assert differences(src, wh) == {}, done
    before = table_checksums(sa.create_engine(wh), "user_access_layer")
    code, summary = sync_json(capsys, "full")
    assert code == 0, summary
    assert_tables_unchanged(before, table_checksums(sa.create_engine(wh), "user_access_layer"))


def test_a_source_without_updated_at_syncs_full_then_by_comparison(pipeline_env, capsys):
    # Arrange: the original RDS schema has no updated_at column anywhere.
    src, wh = pipeline_env["OLIST_SOURCE_URL"], pipeline_env["OLIST_WAREHOUSE_URL"]
    assert run_cli(capsys, "seed-source", "--scale", "0.005", "--seed", "22")[0] == 0
    execute(src, [(f"alter table `{table}` drop column updated_at", {}) for table in TABLE_NAMES])
    code, full = sync_json(capsys, "full")
    assert code == 0, full
    assert differences(src, wh) == {}
    order = one(src, "select order_id from orders order by order_id limit 1")[0]
    payment = one(src, "select order_id, payment_sequential from order_payments order by order_id desc limit 1")
    execute(src, [
        ("update orders set order_status = 'canceled' where order_id = :o", {"o": order}),
        ("delete from order_payments where order_id = :o and payment_sequential = :s", {"o": payment[0], "s": payment[1]}),
        ("insert into order_payments (order_id, payment_sequential, payment_type, payment_installments, payment_value) "
         "values (:o, 77, 'voucher', 1, 1.00)", {"o": order}),
    ])

    # Act
    code, summary = sync_json(capsys, "incremental")

    # Assert: only the changed keys travelled, and the warehouse equals the source.
    assert code == 0, summary
    assert differences(src, wh) == {}
    tables = summary["tables"]
    assert {t: c["extracted"] for t, c in tables.items() if c["extracted"]} == {"orders": 1, "order_payments": 1}
    assert all(c["method"] == "diff" and "updated_at" in c["note"] for c in tables.values())
    assert summary["deleted"] == {"fact_payments": 1}


def test_verify_catches_tampering_and_repair_re_syncs_only_the_differing_keys(synced, capsys):
    # Arrange: a cent, a lost row and an extra row in the warehouse.
    wh = synced["OLIST_WAREHOUSE_URL"]
    item, payment = tamper_warehouse(wh, extra_review="e" * 32)

    # Act
    found_code, found = run_cli(capsys, "verify", "--json")
    repair_code, repaired = cli_json(capsys, "repair", "--json")
    after_code, _ = run_cli(capsys, "verify")

    # Assert: verify names each difference; repair moves exactly those keys and verifies clean.
    assert found_code == 3
    found = json.loads(found)
    assert found["status"] == "different"
    assert found["tables"]["order_items"]["changed"][0]["key"] == [item[0], str(item[1])]
    assert set(found["tables"]["order_items"]["changed"][0]["columns"]) == {"price"}
    assert found["tables"]["order_payments"]["missing"] == [[payment[0], str(payment[1])]]
    assert found["tables"]["order_reviews"]["extra"] == [["e" * 32, item[0]]]
    assert repair_code == 0, repaired
    assert repaired["mode"] == "diff" and repaired["verify"] == {"status": "equal", "tables": {}}
    assert {t: c["extracted"] for t, c in repaired["tables"].items() if c["extracted"]} == {"order_items": 1, "order_payments": 1}
    assert repaired["deleted"] == {"fact_reviews": 1}
    assert after_code == 0


def test_sync_verify_reports_a_difference_the_sync_could_not_see(synced, capsys):
    # Arrange: a warehouse value changed behind the pipeline's back, its updated_at untouched: an
    # incremental (keys and updated_at compared) has no reason to read that row again.
    src, wh = synced["OLIST_SOURCE_URL"], synced["OLIST_WAREHOUSE_URL"]
    order_id = one(wh, "select min(order_id) from user_access_layer.fact_orders")[0]
    execute(wh, [("update user_access_layer.fact_orders set order_status = 'tampered' where order_id = :o", {"o": order_id})])

    # Act
    code, summary = cli_json(capsys, "sync", "--mode", "incremental", "--json", "--verify")
    repair_code, repaired = cli_json(capsys, "repair", "--json")

    # Assert: the sync promoted, --verify found the row and exited 3; a repair fixed it.
    assert code == 3, summary
    assert summary["status"] == "promoted" and summary["verify"]["status"] == "different"
    changed = summary["verify"]["tables"]["orders"]["changed"]
    assert [c["key"] for c in changed] == [[order_id]]
    assert changed[0]["columns"]["order_status"]["warehouse"] == "tampered"
    assert repair_code == 0 and repaired["verify"]["status"] == "equal", repaired
    assert differences(src, wh) == {}
