"""The source DDL on MariaDB and SQLite: tables as in the catalog, updated_at kept by the database."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest
import sqlalchemy as sa

from olist_etl.source import create_source_schema
from olist_etl.source.schema import schema_statements
from olist_etl.tables import TABLES, UPDATED_AT
from tests.support.tables import source_engine_for

pytestmark = pytest.mark.integration

CUSTOMER = {"customer_id": "a" * 32, "customer_unique_id": "b" * 32, "customer_zip_code_prefix": "01310",
            "customer_city": "são paulo", "customer_state": "SP"}
INSERT_CUSTOMER = sa.text(
    "insert into customers (customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state)"
    " values (:customer_id, :customer_unique_id, :customer_zip_code_prefix, :customer_city, :customer_state)"
)


@pytest.fixture(params=["sqlite", "mysql"])
def engine(request, tmp_path):
    engine = source_engine_for(request.param, request, tmp_path)
    yield engine
    engine.dispose()


def updated_at(conn: sa.Connection, customer_id: str) -> datetime:
    value = conn.execute(sa.text("select updated_at from customers where customer_id = :c"), {"c": customer_id}).scalar_one()
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def database_now(engine: sa.Engine) -> datetime:
    # The database's own clock: SQLite's is UTC, MySQL's the session time zone.
    query = "select strftime('%Y-%m-%d %H:%M:%f', 'now')" if engine.dialect.name == "sqlite" else "select now(6)"
    with engine.connect() as conn:
        value = conn.execute(sa.text(query)).scalar_one()
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_the_tables_have_the_catalog_columns_in_order_and_its_primary_keys(engine):
    # Act
    create_source_schema(engine, drop_existing=False)

    # Assert
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == {t.name for t in TABLES}
    for table in TABLES:
        assert tuple(c["name"] for c in inspector.get_columns(table.name)) == table.staged_columns
        assert tuple(inspector.get_pk_constraint(table.name)["constrained_columns"]) == table.primary_key
        assert inspector.get_foreign_keys(table.name) == []
        assert any(ix["column_names"] == [UPDATED_AT] for ix in inspector.get_indexes(table.name)), table.name


def test_mysql_has_no_foreign_keys_and_binary_utf8mb4_collation(request, tmp_path):
    # Arrange
    engine = source_engine_for("mysql", request, tmp_path)

    # Act
    create_source_schema(engine, drop_existing=True)

    # Assert
    with engine.connect() as conn:
        foreign_keys = conn.execute(sa.text(
            "select count(*) from information_schema.referential_constraints where constraint_schema = database()"
        )).scalar_one()
        collations = set(conn.execute(sa.text(
            "select distinct collation_name from information_schema.columns"
            " where table_schema = database() and collation_name is not null"
        )).scalars())
    assert foreign_keys == 0
    assert collations == {"utf8mb4_bin"}
    engine.dispose()


def test_sqlite_has_no_foreign_keys(tmp_path, request):
    engine = source_engine_for("sqlite", request, tmp_path)
    create_source_schema(engine, drop_existing=True)
    with engine.connect() as conn:
        keys = [conn.exec_driver_sql(f"pragma foreign_key_list({t.name})").all() for t in TABLES]
    assert keys == [[] for _ in TABLES]


def test_updated_at_is_set_on_insert_and_advances_only_for_the_updated_row(engine):
    # Arrange
    create_source_schema(engine, drop_existing=True)
    other = {**CUSTOMER, "customer_id": "c" * 32}
    with engine.begin() as conn:
        conn.execute(INSERT_CUSTOMER, [CUSTOMER, other])
    with engine.connect() as conn:
        inserted, other_before = updated_at(conn, CUSTOMER["customer_id"]), updated_at(conn, other["customer_id"])
    time.sleep(0.01)  # SQLite's clock has milliseconds

    # Act
    with engine.begin() as conn:
        conn.execute(sa.text("update customers set customer_city = :city where customer_id = :c"),
                     {"city": "campinas", "c": CUSTOMER["customer_id"]})

    # Assert
    with engine.connect() as conn:
        assert updated_at(conn, CUSTOMER["customer_id"]) > inserted
        assert updated_at(conn, other["customer_id"]) == other_before
    assert abs((inserted - database_now(engine)).total_seconds()) < 60


def test_an_update_that_changes_nothing_leaves_updated_at_alone(engine):
    # Arrange
    create_source_schema(engine, drop_existing=True)
    with engine.begin() as conn:
        conn.execute(INSERT_CUSTOMER, CUSTOMER)
    with engine.connect() as conn:
        before = updated_at(conn, CUSTOMER["customer_id"])
    time.sleep(0.01)

    # Act: the same value again (MySQL's ON UPDATE ignores it; our SQLite trigger must too)
    with engine.begin() as conn:
        conn.execute(sa.text("update customers set customer_city = customer_city where customer_id = :c"), {"c": CUSTOMER["customer_id"]})

    # Assert
    with engine.connect() as conn:
        assert updated_at(conn, CUSTOMER["customer_id"]) == before


def test_sqlite_updated_at_compares_as_text_with_watermark_strings(tmp_path, request):
    # Arrange
    engine = source_engine_for("sqlite", request, tmp_path)
    create_source_schema(engine, drop_existing=True)
    with engine.begin() as conn:
        conn.execute(INSERT_CUSTOMER, CUSTOMER)

    # Act
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select updated_at from customers")).scalar_one()
        as_datetime = datetime.strptime(stored, "%Y-%m-%d %H:%M:%S.%f")
        just_below = (as_datetime.replace(microsecond=max(as_datetime.microsecond - 1, 0))).strftime("%Y-%m-%d %H:%M:%S.%f")
        at_or_below = conn.execute(sa.text("select count(*) from customers where updated_at <= :w"), {"w": stored}).scalar_one()
        above = conn.execute(sa.text("select count(*) from customers where updated_at > :w"), {"w": stored}).scalar_one()
        above_lower = conn.execute(sa.text("select count(*) from customers where updated_at > :w"), {"w": just_below}).scalar_one()

    # Assert: 26 characters like the extract's '%Y-%m-%d %H:%M:%S.%f'; text order is time order
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", stored)
    assert (at_or_below, above) == (1, 0)
    assert above_lower == (1 if as_datetime.microsecond else 0)


def test_a_leading_zero_zip_prefix_and_accents_round_trip(engine):
    create_source_schema(engine, drop_existing=True)
    with engine.begin() as conn:
        conn.execute(INSERT_CUSTOMER, CUSTOMER)
    with engine.connect() as conn:
        row = conn.execute(sa.text("select customer_zip_code_prefix, customer_city from customers")).one()
    assert tuple(row) == ("01310", "são paulo")


def test_a_duplicate_primary_key_is_refused(engine):
    create_source_schema(engine, drop_existing=True)
    with engine.begin() as conn:
        conn.execute(INSERT_CUSTOMER, CUSTOMER)
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.execute(INSERT_CUSTOMER, CUSTOMER)


def test_drop_existing_empties_the_tables_and_keeping_them_keeps_the_rows(engine):
    # Arrange
    create_source_schema(engine, drop_existing=True)
    with engine.begin() as conn:
        conn.execute(INSERT_CUSTOMER, CUSTOMER)

    # Act / Assert: without drop the row stays, with drop it goes
    create_source_schema(engine, drop_existing=False)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from customers")).scalar_one() == 1
    create_source_schema(engine, drop_existing=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from customers")).scalar_one() == 0


def test_a_postgresql_source_is_refused_before_connecting():
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(ValueError, match="MySQL/MariaDB or SQLite"):
        create_source_schema(engine, drop_existing=True)


def test_the_drop_statements_come_first_only_when_asked():
    assert not any("DROP TABLE" in s for s in schema_statements("mysql", drop_existing=False))
    with_drop = schema_statements("sqlite", drop_existing=True)
    assert "DROP TABLE" in with_drop[0] and len([s for s in with_drop if "DROP TABLE" in s]) == len(TABLES)
