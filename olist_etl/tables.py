"""The fixed catalog of Olist source tables.

Every identifier that reaches SQL (table and column names) comes from here, so nothing a user
types is ever formatted into a statement. Column order is the order of the staged CSV files.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # id | zip | state | text | int | money | float | timestamp | date
    nullable: bool = True


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    kaggle_file: str
    # Kaggle header spelling -> our column name (the real export has typos).
    kaggle_renames: tuple[tuple[str, str], ...] = ()
    # True when the primary key is a surrogate the source generates (not in the Kaggle file).
    surrogate_key: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def staged_columns(self) -> tuple[str, ...]:
        """Columns of a staged CSV part: the data columns plus the source's change timestamp."""
        return self.column_names + (UPDATED_AT,)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


UPDATED_AT = "updated_at"


def _c(name: str, kind: str, nullable: bool = True) -> Column:
    return Column(name, kind, nullable)


TABLES: tuple[SourceTable, ...] = (
    SourceTable(
        "customers",
        (
            _c("customer_id", "id", False),
            _c("customer_unique_id", "id", False),
            _c("customer_zip_code_prefix", "zip"),
            _c("customer_city", "text"),
            _c("customer_state", "state"),
        ),
        ("customer_id",),
        "olist_customers_dataset.csv",
    ),
    SourceTable(
        "geolocation",
        (
            _c("geolocation_id", "int", False),
            _c("geolocation_zip_code_prefix", "zip"),
            _c("geolocation_lat", "float"),
            _c("geolocation_lng", "float"),
            _c("geolocation_city", "text"),
            _c("geolocation_state", "state"),
        ),
        ("geolocation_id",),
        "olist_geolocation_dataset.csv",
        surrogate_key=True,
    ),
    SourceTable(
        "orders",
        (
            _c("order_id", "id", False),
            _c("customer_id", "id", False),
            _c("order_status", "text", False),
            _c("order_purchase_timestamp", "timestamp"),
            _c("order_approved_at", "timestamp"),
            _c("order_delivered_carrier_date", "timestamp"),
            _c("order_delivered_customer_date", "timestamp"),
            _c("order_estimated_delivery_date", "timestamp"),
        ),
        ("order_id",),
        "olist_orders_dataset.csv",
    ),
    SourceTable(
        "order_items",
        (
            _c("order_id", "id", False),
            _c("order_item_id", "int", False),
            _c("product_id", "id", False),
            _c("seller_id", "id", False),
            _c("shipping_limit_date", "timestamp"),
            _c("price", "money"),
            _c("freight_value", "money"),
        ),
        ("order_id", "order_item_id"),
        "olist_order_items_dataset.csv",
    ),
    SourceTable(
        "order_payments",
        (
            _c("order_id", "id", False),
            _c("payment_sequential", "int", False),
            _c("payment_type", "text"),
            _c("payment_installments", "int"),
            _c("payment_value", "money"),
        ),
        ("order_id", "payment_sequential"),
        "olist_order_payments_dataset.csv",
    ),
    SourceTable(
        "order_reviews",
        (
            _c("review_id", "id", False),
            _c("order_id", "id", False),
            _c("review_score", "int"),
            _c("review_comment_title", "text"),
            _c("review_comment_message", "text"),
            _c("review_creation_date", "timestamp"),
            _c("review_answer_timestamp", "timestamp"),
        ),
        # A review_id can cover several orders in the real data.
        ("review_id", "order_id"),
        "olist_order_reviews_dataset.csv",
    ),
    SourceTable(
        "products",
        (
            _c("product_id", "id", False),
            _c("product_category_name", "text"),
            _c("product_name_length", "int"),
            _c("product_description_length", "int"),
            _c("product_photos_qty", "int"),
            _c("product_weight_g", "int"),
            _c("product_length_cm", "int"),
            _c("product_height_cm", "int"),
            _c("product_width_cm", "int"),
        ),
        ("product_id",),
        "olist_products_dataset.csv",
        kaggle_renames=(
            ("product_name_lenght", "product_name_length"),
            ("product_description_lenght", "product_description_length"),
        ),
    ),
    SourceTable(
        "sellers",
        (
            _c("seller_id", "id", False),
            _c("seller_zip_code_prefix", "zip"),
            _c("seller_city", "text"),
            _c("seller_state", "state"),
        ),
        ("seller_id",),
        "olist_sellers_dataset.csv",
    ),
    SourceTable(
        "product_category_name_translation",
        (
            _c("product_category_name", "text", False),
            _c("product_category_name_english", "text"),
        ),
        ("product_category_name",),
        "product_category_name_translation.csv",
    ),
)

TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in TABLES)
_BY_NAME = {t.name: t for t in TABLES}


def get_table(name: str) -> SourceTable:
    """The catalog entry for a source table; unknown names are an error, never an identifier."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown Olist table {name!r}; known: {', '.join(TABLE_NAMES)}") from None


def quote_ident(name: str) -> str:
    """Double-quote an identifier that comes from the catalog (PostgreSQL, Redshift, SQLite)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing unexpected identifier {name!r}")
    return '"' + name + '"'


def quote_mysql_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"refusing unexpected identifier {name!r}")
    return "`" + name + "`"
