"""Post-merge key checks: every dim and fact key, scoped to the keys the run touched.

Run by promote after the merges, in its transaction (sql/warehouse/merge/check_keys.sql). On
Redshift nothing else stops a duplicate key (PRIMARY KEY is informational there), so a duplicate
raises and the whole promote rolls back. On PostgreSQL a check that an enforced unique index
already covers (sql/warehouse/merge/unique_indexes.sql, read in the same transaction) is skipped:
it cannot fail, and at scale 10 those checks took about 40 s of every full promote. The
checks of one current version per natural key have no such index and always run, as does every
check on a table whose primary key was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from olist_etl.sqlfiles import render, statements

CHECK_FILE = "warehouse/merge/check_keys.sql"
UNIQUE_INDEXES_FILE = "warehouse/merge/unique_indexes.sql"


class DuplicateKey(RuntimeError):
    """A star-schema key holds more than one row after the merges."""


@dataclass(frozen=True)
class KeyCheck:
    target: str  # table in user_access_layer
    keys: tuple[str, ...]  # the key that must be unique
    scope_table: str | None  # the delta table whose rows the run touched (None: the whole table)
    scope_column: str | None = None  # its column ...
    target_column: str | None = None  # ... matched with this target column
    current_only: bool = False  # the natural key of an SCD2 dimension: one current version
    unknown_member: bool = False  # the dimension's unknown member is checked too

    @property
    def name(self) -> str:
        return f"{self.target}({', '.join(self.keys)}{' where current' if self.current_only else ''})"


def _scoped(target: str, keys: tuple[str, ...], table: str, column: str, target_column: str | None = None, **flags: bool) -> KeyCheck:
    return KeyCheck(target, keys, table, column, target_column or column, **flags)


KEY_CHECKS: tuple[KeyCheck, ...] = (
    _scoped("product_category_translation", ("product_category_name",), "product_category_name_translation", "product_category_name"),
    _scoped("dim_product", ("product_key",), "products", "product_id", unknown_member=True),
    _scoped("dim_product", ("product_id",), "products", "product_id", current_only=True),
    _scoped("customer_account", ("customer_id",), "customers", "customer_id"),
    _scoped("dim_customer", ("customer_key",), "customers", "customer_unique_id", unknown_member=True),
    _scoped("dim_customer", ("customer_unique_id",), "customers", "customer_unique_id", current_only=True),
    _scoped("dim_seller", ("seller_key",), "sellers", "seller_id", unknown_member=True),
    _scoped("dim_seller", ("seller_id",), "sellers", "seller_id", current_only=True),
    _scoped("dim_geolocation", ("geolocation_zip_code_prefix",), "geolocation", "geolocation_zip_code_prefix"),
    _scoped("geolocation_point", ("geolocation_id",), "geolocation", "geolocation_id"),
    # A fixed calendar of ~7,700 rows: checked whole.
    KeyCheck("dim_date", ("date_key",), None),
    _scoped("fact_orders", ("order_id",), "orders", "order_id"),
    _scoped("fact_order_items", ("order_id", "order_item_id"), "order_items", "order_id"),
    _scoped("fact_payments", ("order_id", "payment_sequential"), "order_payments", "order_id"),
    _scoped("fact_reviews", ("review_id", "order_id"), "order_reviews", "review_id"),
)


def check_key_sql(dialect: str, check: KeyCheck) -> str:
    return render(
        CHECK_FILE, dialect,
        target=check.target, keys=list(check.keys), scope_table=check.scope_table, scope_column=check.scope_column,
        target_column=check.target_column, current_only=check.current_only, unknown_member=check.unknown_member,
    )


def enforced_unique_keys(conn: sa.Connection) -> dict[str, list[frozenset[str]]]:
    """Per user_access_layer table, the column sets PostgreSQL's unique indexes enforce (an index
    with a nullable column does not count: NULLs may repeat in it, while the key check groups them)."""
    by_index: dict[int, tuple[str, set[str], bool]] = {}
    for index_id, table, column, not_null in conn.execute(sa.text(statements(render(UNIQUE_INDEXES_FILE, "postgresql"))[0])):
        _, columns, all_not_null = by_index.get(index_id, (table, set(), True))
        by_index[index_id] = (table, columns | {column}, all_not_null and bool(not_null))
    enforced: dict[str, list[frozenset[str]]] = {}
    for table, columns, all_not_null in by_index.values():
        if all_not_null:
            enforced.setdefault(table, []).append(frozenset(columns))
    return enforced


def checks_to_run(conn: sa.Connection, dialect: str) -> list[KeyCheck]:
    """KEY_CHECKS less those an enforced unique index covers (PostgreSQL only: 'redshift-on-postgresql'
    runs them all, as Redshift must)."""
    if dialect != "postgresql":
        return list(KEY_CHECKS)
    enforced = enforced_unique_keys(conn)
    return [check for check in KEY_CHECKS if not any(columns <= set(check.keys) for columns in enforced.get(check.target, ()))]


def check_keys(conn: sa.Connection, dialect: str) -> None:
    """Raise DuplicateKey naming the table, key and value(s) of the first duplicated key found."""
    for check in checks_to_run(conn, dialect):
        rows = conn.execute(sa.text(statements(check_key_sql(dialect, check))[0])).all()
        if rows:
            *values, copies = rows[0]
            key = ", ".join(f"{k} = {v!r}" for k, v in zip(check.keys, values))
            more = f" (and {len(rows) - 1} more key values)" if len(rows) > 1 else ""
            scope = " among its current versions" if check.current_only else ""
            raise DuplicateKey(
                f"user_access_layer.{check.target} holds {copies} rows with {key}{scope}{more}: "
                "a key must be unique; nothing of the run was promoted"
            )
