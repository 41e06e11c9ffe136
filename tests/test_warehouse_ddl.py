"""The warehouse DDL on a real PostgreSQL: idempotent, typed like the source, constraints where they belong."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from olist_etl.db import warehouse_engine
from olist_etl.tables import TABLES
from olist_etl.load import create_warehouse
from tests.support.services import make_settings
from tests.support.tables import table_checksums

pytestmark = pytest.mark.integration

STAR_TABLES = {
    "dim_customer", "dim_product", "dim_seller", "dim_date", "dim_geolocation", "geolocation_point",
    "product_category_translation", "customer_account", "fact_orders", "fact_order_items", "fact_payments", "fact_reviews",
}
SCD2_DIMENSIONS = {"dim_customer": "customer_key", "dim_product": "product_key", "dim_seller": "seller_key"}
EXPECTED_TYPES = {
    "id": ("character", 32, None),
    "zip": ("character", 5, None),
    "state": ("character", 2, None),
    "text": ("text", None, None),
    "int": ("integer", None, None),
    "money": ("numeric", 12, 2),
    "float": ("double precision", None, None),
    "timestamp": ("timestamp without time zone", None, None),
}


@pytest.fixture
def settings(postgres_url, olist_home):
    return make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url)


def _columns(engine, schema: str, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "select column_name, data_type, coalesce(character_maximum_length, numeric_precision), numeric_scale "
                    "from information_schema.columns where table_schema = :s and table_name = :t order by ordinal_position"
                ),
                {"s": schema, "t": table},
            )
        ]


def test_create_warehouse_is_idempotent_and_keeps_data(settings):
    # Arrange
    create_warehouse(settings)
    engine = warehouse_engine(settings)
    with engine.begin() as conn:
        conn.execute(sa.text("insert into etl_control.watermarks (table_name) values ('orders')"))
    before = table_checksums(engine, "etl_control")

    # Act
    create_warehouse(settings)

    # Assert
    assert table_checksums(engine, "etl_control") == before
    with engine.connect() as conn:
        star = set(conn.execute(sa.text(
            "select table_name from information_schema.tables where table_schema = 'user_access_layer' and table_type = 'BASE TABLE'"
        )).scalars())
    assert star == STAR_TABLES
    engine.dispose()


def test_delta_tables_have_exactly_the_staged_columns_typed_like_the_source(settings):
    # Arrange / Act
    create_warehouse(settings)
    engine = warehouse_engine(settings)

    # Assert
    for source in TABLES:
        columns = _columns(engine, "staging_layer", source.name)
        assert [c[0] for c in columns] == list(source.staged_columns)
        for column, (name, data_type, size, scale) in zip(source.columns, columns):
            expected = EXPECTED_TYPES[column.kind]
            assert (data_type, size if expected[1] else None, scale if expected[2] else None) == expected, name
    engine.dispose()


def test_delta_tables_accept_bad_rows_but_the_star_schema_does_not(settings):
    # Arrange
    create_warehouse(settings)
    engine = warehouse_engine(settings)

    # Act / Assert: a NULL key and a duplicate key load into the delta (for the gate to catch) ...
    with engine.begin() as conn:
        conn.execute(sa.text("insert into staging_layer.orders (order_id) values (null), ('a'), ('a')"))
    # ... while the fact table refuses a NULL key.
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(sa.text("insert into user_access_layer.fact_orders (order_id) values (null)"))
    engine.dispose()


def test_money_is_numeric_12_2_everywhere(settings):
    # Arrange / Act
    create_warehouse(settings)
    engine = warehouse_engine(settings)

    # Assert
    with engine.connect() as conn:
        money = conn.execute(sa.text(
            "select table_schema, table_name, column_name, data_type, numeric_precision, numeric_scale "
            "from information_schema.columns c where column_name in ('price', 'freight_value', 'payment_value', 'items_value', 'order_total') "
            "and exists (select 1 from information_schema.tables t where t.table_schema = c.table_schema "
            "and t.table_name = c.table_name and t.table_type = 'BASE TABLE')"
        )).all()
    # Three delta columns; in the star schema the item and payment columns and fact_orders' sums.
    assert sorted((r[0], r[1], r[2]) for r in money if r[0] == "user_access_layer") == [
        ("user_access_layer", "fact_order_items", "freight_value"),
        ("user_access_layer", "fact_order_items", "price"),
        ("user_access_layer", "fact_orders", "freight_value"),
        ("user_access_layer", "fact_orders", "items_value"),
        ("user_access_layer", "fact_orders", "order_total"),
        ("user_access_layer", "fact_payments", "payment_value"),
    ]
    assert len(money) == 9
    assert {(r[3], r[4], r[5]) for r in money} == {("numeric", 12, 2)}
    engine.dispose()


def test_scd2_dimensions_and_fact_keys_are_constrained(settings):
    # Arrange / Act
    create_warehouse(settings)
    engine = warehouse_engine(settings)

    # Assert: a version is keyed by its md5 surrogate and always bounded; facts always carry a key
    # (the unknown member when the dimension row is missing), never NULL.
    with engine.connect() as conn:
        def required(table: str) -> set[str]:
            return set(conn.execute(sa.text(
                "select column_name from information_schema.columns where table_schema = 'user_access_layer' "
                "and table_name = :t and is_nullable = 'NO'"), {"t": table}).scalars())

        def primary_key(table: str) -> list[str]:
            return list(conn.execute(sa.text(
                "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
                "where i.indrelid = cast(:t as regclass) and i.indisprimary order by a.attnum"), {"t": f"user_access_layer.{table}"}).scalars())

        for dim, key in SCD2_DIMENSIONS.items():
            assert primary_key(dim) == [key]
            assert required(dim) >= {key, "valid_from", "valid_to", "is_current"}
            assert ("character", 32, None) == _columns(engine, "user_access_layer", dim)[0][1:]
        assert required("fact_order_items") >= {"customer_key", "product_key", "seller_key"}
        assert required("fact_orders") >= {"customer_key"}
        assert primary_key("customer_account") == ["customer_id"]
    engine.dispose()


def test_a_warehouse_that_is_not_postgresql_or_redshift_is_refused(olist_home, tmp_path):
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=f"sqlite:///{tmp_path / 'w.sqlite'}")
    with pytest.raises(ValueError, match="PostgreSQL or Redshift"):
        create_warehouse(settings)


def test_an_unresolved_warehouse_url_is_an_error(olist_home):
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=None)
    with pytest.raises(RuntimeError, match="not resolved"):
        create_warehouse(settings)


def test_warehouse_connections_run_without_jit_on_postgresql_only(settings):
    from olist_etl.db import warehouse_connect_args

    # Arrange / Act
    with warehouse_engine(settings).connect() as conn:
        jit = conn.execute(sa.text("show jit")).scalar_one()

    # Assert: compiling the merge and gate queries cost more than it saved; Redshift has no such setting.
    assert jit == "off"
    assert warehouse_connect_args("redshift://u:p@cluster.example:5439/dev") == {}


def test_create_warehouse_waits_for_the_sync_lock_before_its_ddl(postgres_url, olist_home, tmp_path):
    import threading
    import time

    # Arrange: a created warehouse, and a transaction holding the lock every writer takes first.
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url, staging_url=(tmp_path / "s").as_uri())
    create_warehouse(settings)
    engine = warehouse_engine(settings)
    done = threading.Event()
    try:
        with engine.connect() as holder:
            transaction = holder.begin()
            holder.execute(sa.text("LOCK etl_control.loads"))
            worker = threading.Thread(target=lambda: (create_warehouse(settings), done.set()))
            worker.start()
            deadline = time.monotonic() + 60
            while True:
                with engine.connect() as conn:
                    waiting = conn.execute(sa.text(
                        "select count(*) from pg_locks l join pg_class c on c.oid = l.relation"
                        " where c.relname = 'loads' and not l.granted")).scalar_one()
                if waiting:
                    break
                assert time.monotonic() < deadline, "create_warehouse never waited for the lock"
                time.sleep(0.1)

            # Assert: it waits; it finishes once the lock is released.
            assert not done.is_set()
            transaction.commit()
        worker.join(60)
        assert done.is_set()
    finally:
        engine.dispose()


def test_two_first_create_warehouse_runs_at_once_both_succeed(postgres_url, olist_home, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    # Arrange: an empty database and two runs creating it at the same moment (no flow lock).
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url, staging_url=(tmp_path / "s").as_uri())

    # Act: a race on CREATE ... IF NOT EXISTS is retried; the LOCK serialises the rest.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [f.result() for f in [pool.submit(create_warehouse, settings) for _ in range(4)]]

    # Assert
    assert results == [None] * 4
    engine = warehouse_engine(settings)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from etl_control.views")).scalar_one() == 6
    engine.dispose()


def test_only_a_creation_race_or_a_serialization_conflict_is_retried():
    from olist_etl.locking import is_creation_collision, is_serialization_failure

    class Driver(Exception):
        def __init__(self, sqlstate: str, text: str):
            super().__init__(text)
            self.sqlstate = sqlstate

    assert is_creation_collision(Driver("23505", 'duplicate key value violates unique constraint "pg_type_typname_nsp_index"'))
    assert is_creation_collision(Driver("42P07", 'relation "loads" already exists'))
    assert not is_creation_collision(Driver("42703", 'column "x" does not exist'))
    assert not is_serialization_failure(Driver("23505", "duplicate key value"))
