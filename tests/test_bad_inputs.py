"""The catalog of bad inputs: each is injected into the real MariaDB source, a sync runs through
the CLI (S3 staging on a moto server, PostgreSQL warehouse), and the run must be blocked by the
named expectation while the dims, facts, watermarks and run log stay exactly as they were.

One seeded source and one promoted full sync are shared by the module (a sync costs seconds);
every case undoes its injection afterwards. The lookback is 0 so an incremental run extracts
only what a case changed.
"""

from __future__ import annotations

import contextlib
import json
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa

from olist_etl.staging import open_staging
from tests.support.services import mariadb_database, postgres_database, s3_bucket
from tests.support.pipeline import Pipeline, cli, sync
from tests.support.tables import assert_tables_unchanged

pytestmark = pytest.mark.integration

TEXT = 'Disse "ótimo", chegou; vírgula, aspas \'simples\'\nsegunda linha\r\nterceira: ção 😀👍🏽 ünïcødé'


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, moto_endpoint, prefect_api) -> Iterator[Pipeline]:
    home = tmp_path_factory.mktemp("bad-inputs") / "home"
    home.mkdir()
    with mariadb_database() as source_url, postgres_database() as warehouse_url, s3_bucket(moto_endpoint) as staging_url:
        with pytest.MonkeyPatch.context() as mp:
            env = {
                "OLIST_HOME": str(home),
                "OLIST_SOURCE_URL": source_url,
                "OLIST_WAREHOUSE_URL": warehouse_url,
                "OLIST_STAGING_URL": staging_url,
                "OLIST_LOOKBACK_MINUTES": "0",
                "OLIST_PART_ROWS": "400",
            }
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("OLIST_MAX_REJECTED_ROWS", raising=False)
            code, out, err = cli("seed-source", "--scale", "0.01", "--seed", "3")
            assert code == 0, err[-2000:]
            code, full = sync("full")
            assert code == 0 and full["status"] == "promoted", full
            pipe = Pipeline(env)
            try:
                yield pipe
            finally:
                pipe.source.dispose()
                pipe.warehouse.dispose()


def latest_artifact_rows(key: str) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1)
    data = found[0].data
    return json.loads(data) if isinstance(data, str) else data


# --- the catalog: each injection yields its undo --------------------------------------------------

Inject = Callable[[Pipeline], Iterator[None]]


@contextlib.contextmanager
def null_key(p: Pipeline):
    order_id, customer_id = p.one("select order_id, customer_id from orders order by order_id limit 1")
    p.execute("alter table orders modify customer_id char(32) null", "update orders set customer_id = null where order_id = :o", o=order_id)
    yield
    p.execute("update orders set customer_id = :c where order_id = :o", "alter table orders modify customer_id char(32) not null", o=order_id, c=customer_id)


@contextlib.contextmanager
def duplicate_key(p: Pipeline):
    # The source enforces its keys, so the duplicate needs the key dropped: the extract then stages both rows.
    seller_id, city = p.one("select seller_id, seller_city from sellers order by seller_id limit 1")
    p.execute(
        "alter table sellers drop primary key",
        "insert into sellers (seller_id, seller_zip_code_prefix, seller_city, seller_state)"
        " select seller_id, seller_zip_code_prefix, 'duplicada', seller_state from sellers where seller_id = :s",
        "update sellers set seller_city = concat(seller_city, ' ') where seller_id = :s and seller_city <> 'duplicada'",
        s=seller_id,
    )
    yield
    p.execute(
        "delete from sellers where seller_id = :s and seller_city = 'duplicada'",
        "update sellers set seller_city = :c where seller_id = :s",
        "alter table sellers add primary key (seller_id)",
        s=seller_id, c=city,
    )


def _orphan_item(product: str | None, seller: str | None):
    @contextlib.contextmanager
    def inject(p: Pipeline):
        order_id, product_id, seller_id = p.one("select order_id, product_id, seller_id from order_items order by order_id limit 1")
        p.execute(
            "insert into order_items (order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value)"
            " values (:o, 99, :p, :s, '2018-01-01 00:00:00', 10.50, 1.25)",
            o=order_id, p=product or product_id, s=seller or seller_id,
        )
        yield
        p.execute("delete from order_items where order_id = :o and order_item_id = 99", o=order_id)

    return inject


@contextlib.contextmanager
def payment_for_missing_order(p: Pipeline):
    p.execute("insert into order_payments (order_id, payment_sequential, payment_type, payment_installments, payment_value) values (:o, 1, 'boleto', 1, 9.90)", o="d" * 32)
    yield
    p.execute("delete from order_payments where order_id = :o", o="d" * 32)


def _update(table: str, column: str, value, key: str):
    @contextlib.contextmanager
    def inject(p: Pipeline):
        key_value, original = p.one(f"select {key}, {column} from {table} where {column} is not null order by {key} limit 1")
        p.execute(f"update {table} set {column} = :v where {key} = :k", v=value, k=key_value)
        yield
        p.execute(f"update {table} set {column} = :v where {key} = :k", v=original, k=key_value)

    return inject


@contextlib.contextmanager
def unparseable_timestamp(p: Pipeline):
    # A DATETIME cannot hold garbage; a text column (as a legacy source might have) can.
    order_id, approved = p.one("select order_id, order_approved_at from orders where order_approved_at is not null order by order_id limit 1")
    p.execute("alter table orders modify order_approved_at varchar(40) null", "update orders set order_approved_at = '31/02/2018 25h' where order_id = :o", o=order_id)
    yield
    p.execute("update orders set order_approved_at = :a where order_id = :o", "alter table orders modify order_approved_at datetime null", o=order_id, a=str(approved))


@contextlib.contextmanager
def dropped_column(p: Pipeline):
    with p.source.connect() as conn:
        saved = conn.execute(sa.text("select product_category_name, product_category_name_english from product_category_name_translation")).all()
    p.execute("alter table product_category_name_translation drop column product_category_name_english")
    yield
    p.execute("alter table product_category_name_translation add column product_category_name_english varchar(100) null after product_category_name")
    with p.source.begin() as conn:
        conn.execute(sa.text("update product_category_name_translation set product_category_name_english = :e where product_category_name = :n"), [{"n": n, "e": e} for n, e in saved])


@contextlib.contextmanager
def added_column(p: Pipeline):
    p.execute("alter table sellers add column seller_rating int null")
    yield
    p.execute("alter table sellers drop column seller_rating")


@contextlib.contextmanager
def empty_extract(p: Pipeline):
    p.execute("rename table product_category_name_translation to pcnt_saved", "create table product_category_name_translation like pcnt_saved")
    yield
    p.execute("drop table product_category_name_translation", "rename table pcnt_saved to product_category_name_translation")


STAGED, DELTA, SOURCE = "gate-staged-parts", "gate-delta-tables", "gate-source-columns"

# case: (injection, sync mode, gate, table, expectation, column)
CATALOG: dict[str, tuple[Inject, str, str, str, str, object]] = {
    "null key": (null_key, "incremental", STAGED, "orders", "expect_column_values_to_not_be_null", "customer_id"),
    # The source gate finds a duplicated key (no unique index on it) before anything is extracted.
    "duplicate key in the source": (duplicate_key, "incremental", SOURCE, "sellers", "expect_column_values_to_be_unique", "seller_id"),
    "orphan item (missing product)": (_orphan_item("f" * 32, None), "incremental", DELTA, "order_items", "unexpected_row_count_expectation", "product_id"),
    "orphan item (missing seller)": (_orphan_item(None, "e" * 32), "incremental", DELTA, "order_items", "unexpected_row_count_expectation", "seller_id"),
    "payment for a missing order": (payment_for_missing_order, "incremental", DELTA, "order_payments", "unexpected_row_count_expectation", "order_id"),
    "unknown order_status": (_update("orders", "order_status", "teleported", "order_id"), "incremental", STAGED, "orders", "expect_column_values_to_be_in_set", "order_status"),
    "negative price": (_update("order_items", "price", -5, "order_id"), "incremental", STAGED, "order_items", "expect_column_values_to_be_between", "price"),
    "review_score 7": (_update("order_reviews", "review_score", 7, "review_id"), "incremental", STAGED, "order_reviews", "expect_column_values_to_be_in_set", "review_score"),
    # The type contract refuses a timestamp column turned into text before any value is read.
    "timestamp column turned into text": (unparseable_timestamp, "incremental", SOURCE, "orders", "expect_column_values_to_be_in_type_list", "order_approved_at"),
    "4-digit zip prefix": (_update("sellers", "seller_zip_code_prefix", "1234", "seller_id"), "incremental", STAGED, "sellers", "expect_column_values_to_match_regex", "seller_zip_code_prefix"),
    "dropped column": (dropped_column, "incremental", SOURCE, "product_category_name_translation", "expect_table_columns_to_match_set", None),
    "added column": (added_column, "incremental", SOURCE, "sellers", "expect_table_columns_to_match_set", None),
    "empty extract where the previous run had rows": (empty_extract, "full", STAGED, "product_category_name_translation", "expect_table_row_count_to_be_between", None),
}


@pytest.mark.parametrize("case", CATALOG)
def test_bad_input_blocks_with_the_named_expectation_and_changes_nothing(pipeline, case):
    inject, mode, gate, table, expectation, column = CATALOG[case]
    before = pipeline.state()

    with inject(pipeline):
        code, summary = sync(mode)

    assert code == 2, summary
    assert summary["status"] == "blocked"
    critical = [(g["name"], f["table"], f["expectation"], f["column"]) for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical"]
    assert critical == [(gate, table, expectation, column)]
    failure = next(f for g in summary["gates"] for f in g["failed_expectations"] if f["severity"] == "critical")
    assert failure["unexpected_count"] >= 1 and failure["sample_values"]
    after = pipeline.state()
    assert_tables_unchanged(before["star"], after["star"])
    assert (after["watermarks"], after["runs"]) == (before["watermarks"], before["runs"])
    # The staged batch is kept under quarantine/ with every gate's result beside it.
    area = open_staging(pipeline.env["OLIST_STAGING_URL"])
    kept = area.list(f"quarantine/{summary['run_id']}/")
    assert f"quarantine/{summary['run_id']}/{gate}.json" in kept
    assert summary["quarantine"] == area.uri(f"quarantine/{summary['run_id']}")
    # Data docs: this run's pages and the index's gate table, published next to the staging area.
    index = area.reader("data_docs/index.html")
    with index as src:
        published = src.read().decode("utf-8")
    assert summary["run_id"] in published and expectation in published
    assert any(f"/{summary['run_id']}/" in k for k in area.list("data_docs/validations/"))
    # The Prefect artifact lists every expectation checked, the failing one as failed.
    rows = latest_artifact_rows("olist-sync-gates")
    assert {"gate": gate, "table": table, "expectation": expectation, "severity": "critical", "result": "failed"}.items() <= next(
        r for r in rows if r["result"] == "failed" and r["severity"] == "critical"
    ).items()
    assert any(r["result"] == "passed" for r in rows)
    if gate != SOURCE:
        staged = area.list(f"runs/{summary['run_id']}/")
        assert {k.replace("runs/", "quarantine/", 1) for k in staged} <= set(kept)
        assert any(k.endswith(".csv.gz") for k in kept)


def test_blocked_sync_message_names_table_expectation_column_count_and_samples(pipeline):
    inject = _update("order_reviews", "review_score", 7, "review_id")
    with inject(pipeline):
        code, out, err = cli("sync", "--mode", "incremental")

    assert code == 2
    assert "BLOCKED" in out
    assert 'order_reviews.review_score: expect_column_values_to_be_in_set, 1 unexpected, e.g. [7]' in err


def test_text_with_quotes_commas_newlines_accents_and_emoji_round_trips_byte_for_byte(pipeline):
    review_id, order_id = pipeline.one("select review_id, order_id from order_reviews order by review_id limit 1")
    title = 'título, "com aspas"; e vírgula 🚚'
    pipeline.execute(
        "update order_reviews set review_comment_title = :t, review_comment_message = :m where review_id = :r and order_id = :o",
        t=title, m=TEXT, r=review_id, o=order_id,
    )

    code, summary = sync("incremental")

    assert code == 0, summary
    assert summary["status"] == "promoted" and summary["tables"]["order_reviews"]["loaded"] >= 1
    with pipeline.source.connect() as conn:
        source = conn.execute(sa.text("select review_comment_title, review_comment_message from order_reviews where review_id = :r and order_id = :o"), {"r": review_id, "o": order_id}).one()
    with pipeline.warehouse.connect() as conn:
        promoted = conn.execute(
            sa.text("select review_comment_title, review_comment_message from user_access_layer.fact_reviews where review_id = :r and order_id = :o"),
            {"r": review_id, "o": order_id},
        ).one()
    assert [v.encode("utf-8") for v in promoted] == [v.encode("utf-8") for v in source] == [title.encode("utf-8"), TEXT.encode("utf-8")]
