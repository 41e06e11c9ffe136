"""Columns added to the star schema after a warehouse was first created.

The DDL is CREATE TABLE IF NOT EXISTS, so a warehouse created by an older release keeps its old
tables; create_warehouse adds what is missing here, in the same transaction as the DDL. Redshift
has no ADD COLUMN IF NOT EXISTS, so the catalog is read first on both dialects.
"""

from __future__ import annotations

import sqlalchemy as sa

from olist_etl.tables import quote_ident

SCHEMA = "user_access_layer"
_DELETED_AT = ("deleted_at", "TIMESTAMP")

# (table, column, SQL type): every star-schema table but dim_date got deleted_at, and
# customer_account the location columns that make it a mirror of the source's customers.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = tuple(
    (table, *_DELETED_AT)
    for table in (
        "product_category_translation", "customer_account", "dim_customer", "dim_product", "dim_seller",
        "geolocation_point", "dim_geolocation", "fact_orders", "fact_order_items", "fact_payments", "fact_reviews",
    )
) + (
    ("customer_account", "customer_zip_code_prefix", "CHAR(5)"),
    ("customer_account", "customer_city", "TEXT"),
    ("customer_account", "customer_state", "CHAR(2)"),
)

CONTROL_SCHEMA = "etl_control"
# etl_control.runs records every run (blocked, failed and cancelled too), with its per-phase
# timings, counts, gate outcome, quarantine key and error (sql/warehouse/ddl/etl_control.sql).
CONTROL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("runs", "rows_extracted", "BIGINT"),
    ("runs", "phase_seconds", "VARCHAR(1024)"),
    ("runs", "failed_gate", "VARCHAR(64)"),
    ("runs", "critical_failures", "INTEGER"),
    ("runs", "quarantine_key", "VARCHAR(1024)"),
    ("runs", "error_message", "VARCHAR(4096)"),
)


def add_missing_columns(conn: sa.Connection, dialect: str) -> list[str]:
    """ALTER TABLE ... ADD COLUMN for each added column the warehouse lacks; returns what was added."""
    added = []
    for schema, columns in ((SCHEMA, ADDED_COLUMNS), (CONTROL_SCHEMA, CONTROL_COLUMNS)):
        existing = {
            (table, column)
            for table, column in conn.execute(
                sa.text("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :schema"),
                {"schema": schema},
            )
        }
        for table, column, sql_type in columns:
            if (table, column) in existing:
                continue
            if sql_type == "TEXT" and dialect in ("redshift", "redshift-on-postgresql"):
                sql_type = "VARCHAR(400)"  # bytes: the source's VARCHAR(100) utf8mb4 (macros.jinja text())
            conn.exec_driver_sql(f"ALTER TABLE {schema}.{quote_ident(table)} ADD COLUMN {quote_ident(column)} {sql_type}")
            added.append(f"{schema}.{table}.{column}" if schema != SCHEMA else f"{table}.{column}")
    return added
