"""The cross-database comparison (olist_etl/warehouse/compare.py) and `olist-etl verify`.

The canonical text is checked value by value on MariaDB, PostgreSQL and SQLite; the comparison
itself runs on a seeded MariaDB source and its fully synced PostgreSQL warehouse, which each test
tampers with on its own copy (CREATE DATABASE ... TEMPLATE), so each difference is found alone.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.warehouse.compare import (
    FLOAT_DECIMALS,
    MIRRORS,
    MySQLDialect,
    PostgresDialect,
    SQLiteDialect,
    compare_all,
    compare_table,
    render_bucket_sql,
)
from tests.support.services import POSTGRES_ADMIN_URL, mariadb_database, postgres_database, unique_name

pytestmark = pytest.mark.integration

UAL = "user_access_layer"


# --- the canonical text, value by value ---------------------------------------------------------

# (kind, MariaDB type, PostgreSQL type, SQLite type, values, expected canonical field text)
BOUNDARIES = [
    ("text", "VARCHAR(100)", "TEXT", "VARCHAR(100)",
     ["", None, "a~b", "N", "\\N", "São Paulo 🙂", " trailing "],
     ["0~", "N", "3~a~b", "1~N", "2~\\N", "11~São Paulo 🙂", "10~ trailing "]),
    ("id", "CHAR(32)", "CHAR(32)", "CHAR(32)",
     ["0123456789abcdef0123456789abcdef"], ["32~0123456789abcdef0123456789abcdef"]),
    ("int", "INT", "INTEGER", "INTEGER",
     [0, -5, 2147483647, None], ["1~0", "2~-5", "10~2147483647", "N"]),
    ("money", "DECIMAL(12,2)", "NUMERIC(12,2)", "DECIMAL(12,2)",
     ["12.3", "0", "-0.01", "9999999999.99", None], ["5~12.30", "4~0.00", "5~-0.01", "13~9999999999.99", "N"]),
    ("float", "DOUBLE", "DOUBLE PRECISION", "DOUBLE",
     [-23.54562128115268, 0.0, 1.0000000005, -1.0000000005, 1e-05, None],
     ["13~-23.545621281", "11~0.000000000", "11~1.000000001", "12~-1.000000001", "11~0.000010000", "N"]),
    ("timestamp", "DATETIME(6)", "TIMESTAMP", "DATETIME",
     ["2018-01-02 03:04:05", "2018-01-02 03:04:05.000001", "1900-01-01 00:00:00", None],
     ["26~2018-01-02 03:04:05.000000", "26~2018-01-02 03:04:05.000001", "26~1900-01-01 00:00:00.000000", "N"]),
    ("date", "DATE", "DATE", "DATE", ["2018-02-28", None], ["10~2018-02-28", "N"]),
]


def _rendered(engine: sa.Engine, dialect, column_type: str, kind: str, values: list) -> list[str]:
    """Store the values in a one-column table and read back each row's canonical field text."""
    q = dialect.quote
    table = unique_name("canon")
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {q(table)} (i INTEGER, v {column_type})"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {q(table)} (i, v) VALUES (:i, :v)"), [{"i": i, "v": v} for i, v in enumerate(values)])
        with engine.connect() as conn:
            dialect.prepare(conn)
            expr = dialect.encode(dialect.field(kind, q("v")))
            return list(conn.execute(sa.text(f"SELECT {expr} FROM {q(table)} ORDER BY i")).scalars())
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {q(table)}"))


@pytest.fixture
def three_engines(mariadb_url, postgres_url, tmp_path):
    engines = {
        "mariadb": (sa.create_engine(mariadb_url), MySQLDialect()),
        "postgresql": (sa.create_engine(postgres_url), PostgresDialect()),
        "sqlite": (sa.create_engine(f"sqlite:///{tmp_path / 'canon.sqlite'}"), SQLiteDialect()),
    }
    yield engines
    for engine, _ in engines.values():
        engine.dispose()


@pytest.mark.parametrize("kind, my_type, pg_type, lite_type, values, expected", BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_canonical_text_is_identical_in_every_database(three_engines, kind, my_type, pg_type, lite_type, values, expected):
    types = {"mariadb": my_type, "postgresql": pg_type, "sqlite": lite_type}
    for name, (engine, dialect) in three_engines.items():
        assert _rendered(engine, dialect, types[name], kind, values) == expected, name


def test_empty_text_and_null_render_differently(three_engines):
    # The failing case beside the passing one: were NULL and '' the same text, this would fail.
    for name, (engine, dialect) in three_engines.items():
        empty, null = _rendered(engine, dialect, "VARCHAR(10)", "text", ["", None])
        assert empty != null, name


def test_float_rounding_agrees_on_many_values_and_sees_the_9th_decimal(three_engines):
    rnd = random.Random(11)
    values = [rnd.uniform(-90, 90) for _ in range(3000)]
    # Ties at the 10th decimal in the shortest text, where two roundings would disagree.
    values += [float(f"{rnd.randint(-90, 90)}.{rnd.randint(0, 10**8 - 1):08d}5") for _ in range(1000)]
    types = {"mariadb": "DOUBLE", "postgresql": "DOUBLE PRECISION", "sqlite": "DOUBLE"}
    texts = {name: _rendered(e, d, types[name], "float", values) for name, (e, d) in three_engines.items()}
    assert texts["mariadb"] == texts["postgresql"] == texts["sqlite"]
    # A difference in the 9th decimal shows; one in the 12th is below the documented precision.
    assert FLOAT_DECIMALS == 9
    engine, dialect = three_engines["mariadb"]
    near = _rendered(engine, dialect, "DOUBLE", "float", [-23.545621281, -23.545621282, -23.545621281001])
    assert near[0] != near[1] and near[0] == near[2]


def test_redshift_sql_is_rendered_and_parses():
    sqlglot = pytest.importorskip("sqlglot")
    for mirror in MIRRORS:
        sql = render_bucket_sql("redshift", mirror.table, source=False)
        assert f'"{UAL}"."{mirror.relation}"' in sql and "STRTOL" in sql and "deleted_at IS NULL" in sql
        sqlglot.parse_one(sql, read="redshift")
    assert "is_current" in render_bucket_sql("redshift", "products", source=False)
    assert "is_current" not in render_bucket_sql("redshift", "orders", source=False)
    # An incremental's: the window's keys left out on the warehouse, its rows on the source.
    windowed = render_bucket_sql("redshift", "order_items", source=False, window=True)
    assert "NOT EXISTS (SELECT 1 FROM olist_window_keys w WHERE w.window_k0 = " in windowed and "w.window_k1 = " in windowed
    sqlglot.parse_one(windowed, read="redshift")
    assert '("updated_at" IS NULL OR "updated_at" <= :window_since)' in render_bucket_sql("postgresql", "orders", source=True, window=True)
    assert "window" not in render_bucket_sql("redshift", "orders", source=False)


# --- a seeded source and its synced warehouse ---------------------------------------------------


def _sync_full(home: Path, source_url: str, warehouse_url: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "OLIST_HOME": str(home),
            "OLIST_SOURCE_URL": source_url,
            "OLIST_WAREHOUSE_URL": warehouse_url,
            "OLIST_STAGING_URL": (home / "staging").as_uri(),
        }.items():
            mp.setenv(key, value)
        assert main(["seed-source", "--scale", "0.005", "--seed", "31"]) == 0
        assert main(["sync", "--mode", "full"]) == 0


@pytest.fixture(scope="module")
def synced(prefect_api, tmp_path_factory):
    """(MariaDB source URL, PostgreSQL warehouse URL) after a full sync; tests copy the warehouse."""
    home = tmp_path_factory.mktemp("verify-home")
    with mariadb_database() as source_url, postgres_database() as warehouse_url:
        _sync_full(home, source_url, warehouse_url)
        yield source_url, warehouse_url


def _copy_database(template_url: str) -> str:
    """A copy of a PostgreSQL database (CREATE DATABASE ... TEMPLATE), dropped by the caller."""
    template = sa.engine.make_url(template_url).database
    name = unique_name("olist_v")
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # The sync's pooled connections would block the copy.
        conn.execute(sa.text("select pg_terminate_backend(pid) from pg_stat_activity where datname = :d and pid <> pg_backend_pid()"), {"d": template})
        conn.execute(sa.text(f'create database "{name}" template "{template}"'))
    admin.dispose()
    return sa.engine.make_url(template_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{sa.engine.make_url(url).database}" with (force)'))
    admin.dispose()


class Pair:
    def __init__(self, source_url: str, warehouse_url: str):
        self.source_url, self.warehouse_url = source_url, warehouse_url
        self.source, self.warehouse = sa.create_engine(source_url), sa.create_engine(warehouse_url)

    def wh(self, sql: str, **params) -> list:
        """Run one statement on the warehouse copy; the rows of a SELECT."""
        with self.warehouse.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return result.all() if result.returns_rows else []

    def compare(self, table: str, **kw):
        return compare_table(self.source, self.warehouse, table, **kw)


@pytest.fixture
def pair(synced, monkeypatch, olist_home):
    source_url, base = synced
    copy = _copy_database(base)
    p = Pair(source_url, copy)
    for key, value in {"OLIST_HOME": str(olist_home), "OLIST_SOURCE_URL": source_url, "OLIST_WAREHOUSE_URL": copy}.items():
        monkeypatch.setenv(key, value)
    try:
        yield p
    finally:
        p.source.dispose()
        p.warehouse.dispose()
        _drop_database(copy)


def verify_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["verify", "--json", *args])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got: {out!r}"
    return code, json.loads(lines[0])


def test_a_synced_warehouse_verifies_equal(pair, capsys):
    code, report = verify_json(capsys)
    assert code == 0, report
    assert report["status"] == "equal"
    assert set(report["tables"]) == {m.table for m in MIRRORS}
    for name, table in report["tables"].items():
        assert table["source_rows"] == table["warehouse_rows"] > 0, name
        assert table["missing"] == table["extra"] == table["changed"] == [], name
    # The human form says so too.
    assert main(["verify"]) == 0
    assert "EQUAL (0 of 9 tables differ)" in capsys.readouterr().out


def test_one_cent_on_an_item_price_is_named_with_both_values(pair, capsys):
    order_id, item_id, price = pair.wh(f"select order_id, order_item_id, price from {UAL}.fact_order_items order by order_id, order_item_id limit 1")[0]
    pair.wh(f"update {UAL}.fact_order_items set price = price + 0.01 where order_id = :o and order_item_id = :i", o=order_id, i=item_id)
    code, report = verify_json(capsys, "--table", "order_items")
    assert code == 3 and report["status"] == "different"
    items = report["tables"]["order_items"]
    assert items["changed"] == [{"key": [order_id, str(item_id)],  # composite key, int as text
                                 "columns": {"price": {"source": f"{price:.2f}", "warehouse": f"{price + Decimal('0.01'):.2f}"}}}]
    assert items["missing"] == items["extra"] == [] and items["changed_count"] == 1
    # The human form names the key, the column and both values.
    assert main(["verify", "--table", "order_items"]) == 3
    out = capsys.readouterr().out
    assert f"{order_id}, {item_id}: price: source '{price:.2f}'" in out


def test_a_deleted_payment_is_missing_and_an_inserted_review_is_extra(pair):
    order_id, seq = pair.wh(f"select order_id, payment_sequential from {UAL}.fact_payments order by 1, 2 limit 1")[0]
    pair.wh(f"delete from {UAL}.fact_payments where order_id = :o and payment_sequential = :s", o=order_id, s=seq)
    payments = pair.compare("order_payments")
    assert not payments.equal and payments.missing == [(order_id, str(seq))] and payments.extra == [] and payments.changed == []
    assert payments.warehouse_rows == payments.source_rows - 1

    pair.wh(f"insert into {UAL}.fact_reviews (review_id, order_id, review_score) values (:r, :o, 5)", r="f" * 32, o="e" * 32)
    reviews = pair.compare("order_reviews")
    assert reviews.extra == [("f" * 32, "e" * 32)] and reviews.missing == [] and reviews.extra_count == 1
    assert pair.compare("orders").equal  # the other tables are untouched


def test_a_row_marked_deleted_counts_as_missing(pair):
    (order_id,) = pair.wh(f"select order_id from {UAL}.fact_orders order by 1 limit 1")[0]
    pair.wh(f"update {UAL}.fact_orders set deleted_at = now() where order_id = :o", o=order_id)
    diff = pair.compare("orders")
    assert diff.missing == [(order_id,)] and diff.extra == [] and diff.changed == []


def test_a_source_update_not_yet_synced_is_changed(pair):
    with pair.source.begin() as conn:
        order_id, status = conn.execute(sa.text("select order_id, order_status from orders order by order_id limit 1")).one()
        conn.execute(sa.text("update orders set order_status = 'tampered' where order_id = :o"), {"o": order_id})
    try:
        diff = pair.compare("orders")
    finally:
        with pair.source.begin() as conn:
            conn.execute(sa.text("update orders set order_status = :s where order_id = :o"), {"s": status, "o": order_id})
    assert diff.changed_count == 1 and diff.missing == diff.extra == []
    key, columns = diff.changed[0]
    assert key == (order_id,)
    assert [(c.name, c.source_value, c.warehouse_value) for c in columns] == [("order_status", "tampered", status)]


def test_empty_text_in_the_warehouse_differs_from_null_in_the_source(pair):
    rows = pair.wh(f"select review_id, order_id from {UAL}.fact_reviews where review_comment_title is null order by 1, 2 limit 1")
    assert rows, "the seed has reviews without a title"
    review_id, order_id = rows[0]
    pair.wh(f"update {UAL}.fact_reviews set review_comment_title = '' where review_id = :r and order_id = :o", r=review_id, o=order_id)
    diff = pair.compare("order_reviews")
    assert [(k, [(c.name, c.source_value, c.warehouse_value) for c in cols]) for k, cols in diff.changed] == [
        ((review_id, order_id), [("review_comment_title", None, "")])
    ]


def test_a_latitude_off_in_the_9th_decimal_is_found_and_one_below_it_is_not(pair):
    geo_id, lat = pair.wh(f"select geolocation_id, geolocation_lat from {UAL}.geolocation_point where geolocation_lat is not null order by 1 limit 1")[0]
    pair.wh(f"update {UAL}.geolocation_point set geolocation_lat = geolocation_lat + 1e-12 where geolocation_id = :g", g=geo_id)
    assert pair.compare("geolocation").equal, "a difference below 1e-9 is within the documented precision"
    pair.wh(f"update {UAL}.geolocation_point set geolocation_lat = :v where geolocation_id = :g", v=lat + 2e-9, g=geo_id)
    diff = pair.compare("geolocation")
    assert [k for k, _ in diff.changed] == [(str(geo_id),)]
    (column,) = diff.changed[0][1]
    assert column.name == "geolocation_lat" and column.source_value != column.warehouse_value


def test_only_current_versions_of_a_dimension_are_compared(pair):
    # An old version and the unknown member (product_id NULL) are not source rows.
    assert pair.wh(f"select count(*) from {UAL}.dim_product where product_id is null")[0][0] >= 1
    pair.wh(
        f"insert into {UAL}.dim_product (product_key, product_id, product_category_name_english, valid_from, valid_to, is_current) "
        f"select md5('old'), product_id, 'old', '1900-01-01', '1900-01-02', false from {UAL}.dim_product where is_current and product_id is not null limit 1"
    )
    assert pair.compare("products").equal
    # A second current version is one too many.
    pair.wh(f"update {UAL}.dim_product set is_current = true where product_key = md5('old')")
    diff = pair.compare("products")
    assert diff.extra_count + diff.changed_count >= 1 and diff.warehouse_rows == diff.source_rows + 1


def test_tiny_batches_give_the_same_exact_result_and_max_keys_caps_lists_not_counts(pair):
    pair.wh(f"delete from {UAL}.fact_payments where order_id in (select order_id from {UAL}.fact_payments order by order_id limit 40)")
    pair.wh(f"update {UAL}.fact_payments set payment_value = payment_value + 1 where order_id in "
            f"(select order_id from {UAL}.fact_payments order by order_id desc limit 15)")
    whole = pair.compare("order_payments")
    tiny = pair.compare("order_payments", batch_rows=1, batch_buckets=1)
    assert whole.missing_count >= 40 and whole.changed_count >= 15 and not whole.truncated
    assert tiny.batches == tiny.buckets_differing > whole.batches  # one bucket per fetch
    assert (tiny.missing, tiny.extra, tiny.changed) == (whole.missing, whole.extra, whole.changed)
    capped = pair.compare("order_payments", max_keys=5)
    assert len(capped.missing) == 5 and len(capped.changed) == 5 and capped.truncated
    assert (capped.missing_count, capped.changed_count) == (whole.missing_count, whole.changed_count)
    assert set(capped.missing) <= set(whole.missing)


def test_verify_limit_caps_printed_keys_but_not_counts(pair, capsys):
    pair.wh(f"delete from {UAL}.fact_payments where order_id in (select order_id from {UAL}.fact_payments order by order_id limit 30)")
    code, report = verify_json(capsys, "--table", "order_payments", "--limit", "3")
    payments = report["tables"]["order_payments"]
    assert code == 3 and len(payments["missing"]) == 3 and payments["missing_count"] >= 30 and payments["truncated"]
    assert main(["verify", "--table", "order_payments", "--limit", "3"]) == 3
    assert f"... and {payments['missing_count'] - 3} more" in capsys.readouterr().out


def test_bad_table_and_unreachable_database_are_one_readable_line(pair, capsys, monkeypatch):
    assert main(["verify", "--table", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown Olist table 'nope'" in err and "order_items" in err

    monkeypatch.setenv("OLIST_WAREHOUSE_URL", "postgresql://etl:sekret@127.0.0.1:1/olist")
    assert main(["verify", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.count("\n") == 0 and "warehouse" in err and "Traceback" not in err and "sekret" not in err


@pytest.mark.both_runners  # a SQLite source file read by Dask worker processes too
def test_a_sqlite_source_verifies_too(prefect_api, olist_home, postgres_url):
    source_url = f"sqlite:///{olist_home / 'source.sqlite'}"
    _sync_full(olist_home, source_url, postgres_url)
    source, warehouse = sa.create_engine(source_url), sa.create_engine(postgres_url)
    try:
        diffs = compare_all(source, warehouse)
        assert all(d.equal and d.source_rows == d.warehouse_rows for d in diffs), [d.table for d in diffs if not d.equal]
        with warehouse.begin() as conn:
            conn.execute(sa.text(f"update {UAL}.fact_order_items set freight_value = freight_value + 0.01 "
                                 f"where (order_id, order_item_id) in (select order_id, order_item_id from {UAL}.fact_order_items limit 1)"))
        (items,) = compare_all(source, warehouse, ["order_items"])
        assert items.changed_count == 1 and [c.name for c in items.changed[0][1]] == ["freight_value"]
    finally:
        source.dispose()
        warehouse.dispose()


def test_an_incremental_leaves_its_window_out_and_still_finds_every_drift_outside_it(pair):
    # Arrange: 300 reviews change in the source after the window's start (the window's read stages
    # them), and the warehouse drifts outside the window: a row lost (a late commit), a timestamp
    # that differs (set back), a row the source no longer has (a delete), and a window row lost.
    with pair.source.connect() as conn:
        since = conn.execute(sa.text("select max(updated_at) from order_reviews")).scalar_one()
        reviews = conn.execute(sa.text("select review_id, order_id, updated_at from order_reviews order by review_id, order_id")).all()
    window, (lost, set_back, *_rest) = reviews[10:310], reviews[400:]
    since_text = since.strftime("%Y-%m-%d %H:%M:%S.%f")
    with pair.source.begin() as conn:
        conn.execute(sa.text("update order_reviews set updated_at = :t where review_id = :r and order_id = :o"),
                     [{"t": since + timedelta(days=1), "r": r, "o": o} for r, o, _ in window])
    try:
        pair.wh(f"delete from {UAL}.fact_reviews where review_id = :r and order_id = :o", r=lost[0], o=lost[1])
        pair.wh(f"update {UAL}.fact_reviews set updated_at = '2001-02-03' where review_id = :r and order_id = :o", r=set_back[0], o=set_back[1])
        pair.wh(f"insert into {UAL}.fact_reviews (review_id, order_id, review_score, updated_at) values (:r, :o, 5, '2001-02-03')",
                r="f" * 32, o="e" * 32)
        pair.wh(f"delete from {UAL}.fact_reviews where review_id = :r and order_id = :o", r=window[0][0], o=window[0][1])

        # Act: the incremental's comparison (updated_at only), with and without the window left out.
        windowed = pair.compare("order_reviews", compared=("updated_at",), window_since=since_text)
        again = pair.compare("order_reviews", compared=("updated_at",), window_since=since_text)  # the temporary table is gone
        totals_first = pair.compare("order_reviews", compared=("updated_at",), window_since=since_text, totals_first=True)
        equal_customers = pair.compare("customers", compared=("updated_at",), totals_first=True)
        whole = pair.compare("order_reviews", compared=("updated_at",))
    finally:
        with pair.source.begin() as conn:
            conn.execute(sa.text("update order_reviews set updated_at = :t where review_id = :r and order_id = :o"),
                         [{"t": t, "r": r, "o": o} for r, o, t in window])

    # Assert: exactly the drift outside the window, and only its buckets differ.
    assert windowed.missing == [(lost[0], lost[1])] and windowed.extra == [("f" * 32, "e" * 32)]
    assert [key for key, _ in windowed.changed] == [(set_back[0], set_back[1])]
    assert windowed.buckets_differing <= 3 and windowed.batches == 1
    assert windowed.source_rows == len(reviews) - len(window) and windowed.warehouse_rows == windowed.source_rows
    assert (again.missing, again.extra, again.changed) == (windowed.missing, windowed.extra, windowed.changed)
    # Level 0 (whole-table totals) sees the same drift and hands over to the buckets; on an equal
    # table it ends the comparison, with the row counts.
    assert (totals_first.missing, totals_first.extra, totals_first.changed) == (windowed.missing, windowed.extra, windowed.changed)
    assert equal_customers.equal and equal_customers.buckets_differing == 0
    live_customers = pair.wh(f"select count(*) from {UAL}.customer_account where deleted_at is null")[0][0]
    assert equal_customers.source_rows == equal_customers.warehouse_rows == live_customers > 0
    # Without it every window row differs too, and level 2 reads all of their buckets.
    assert whole.changed_count == len(window) and whole.missing_count == 2  # 299 window rows + the set-back one; two lost
    assert whole.buckets_differing > 250



@pytest.mark.parametrize("isolation, taken_for_a_delete", [(None, False), ("READ COMMITTED", True)])
def test_a_row_entering_the_window_during_the_comparison_is_not_taken_for_a_delete(pair, monkeypatch, isolation, taken_for_a_delete):
    # Arrange: another session updates a review into the window right after the comparison read
    # the window's keys, before it reads the buckets: an ordinary concurrent write. The source's
    # sessions default to READ COMMITTED (as an RDS parameter group may set), so only the
    # comparison's own isolation (isolation None: the code's) gives it one snapshot.
    import olist_etl.warehouse.compare as compare

    read_committed = sa.create_engine(pair.source_url, isolation_level="READ COMMITTED")

    with pair.source.connect() as conn:
        since = conn.execute(sa.text("select max(updated_at) from order_reviews")).scalar_one()
        review, order, stamp = conn.execute(sa.text("select review_id, order_id, updated_at from order_reviews order by review_id limit 1")).one()
    moved = "update order_reviews set updated_at = :t where review_id = :r and order_id = :o"
    read_window_keys = compare._without_window

    def racing(held, src, wh, window_since):
        sides = read_window_keys(held, src, wh, window_since)
        with pair.source.begin() as other_session:
            other_session.execute(sa.text(moved), {"t": since + timedelta(days=1), "r": review, "o": order})
        return sides

    monkeypatch.setattr(compare, "_without_window", racing)
    if isolation is not None:
        monkeypatch.setattr(compare, "SOURCE_SNAPSHOT_ISOLATION", isolation)
    try:
        # Act
        diff = compare_table(read_committed, pair.warehouse, "order_reviews", compared=("updated_at",),
                             window_since=since.strftime("%Y-%m-%d %H:%M:%S.%f"))
    finally:
        read_committed.dispose()
        with pair.source.begin() as conn:
            conn.execute(sa.text(moved), {"t": stamp, "r": review, "o": order})

    # Assert: in one snapshot the row is outside the window on both reads and equal; read twice
    # without one, it is in neither, and its warehouse row would be staged as deleted.
    assert (diff.extra == [(review, order)]) is taken_for_a_delete
    assert diff.missing == [] and diff.changed == [] and (diff.equal is not taken_for_a_delete)


def test_whole_table_totals_see_a_key_changed_with_its_timestamp_kept(pair):
    # Arrange: one payment's key changes in the warehouse, its updated_at and the row count kept:
    # level 0's count is equal, its hash sum is not.
    order_id, seq = pair.wh(f"select order_id, payment_sequential from {UAL}.fact_payments order by 1, 2 limit 1")[0]
    pair.wh(f"update {UAL}.fact_payments set payment_sequential = 77 where order_id = :o and payment_sequential = :s", o=order_id, s=seq)

    # Act
    diff = pair.compare("order_payments", compared=("updated_at",), totals_first=True)

    # Assert
    assert diff.missing == [(order_id, str(seq))] and diff.extra == [(order_id, "77")]
    assert diff.source_rows == diff.warehouse_rows
