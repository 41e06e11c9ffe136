-- The star schema BI tools read (docs/warehouse.md draws it). Dimensions that change over time
-- (customer location, product, seller location) are SCD type 2: one row per version, keyed by a
-- deterministic md5 surrogate key (macros.jinja: surrogate_key), with valid_from / valid_to /
-- is_current. Facts carry the keys of the versions current at the order's purchase, and keep the
-- natural keys too, so a fact promoted before its dimension row (keyed to the unknown member
-- '000...0') is re-keyed when the row arrives. Money is NUMERIC(12,2) everywhere: the original
-- system lost the cents with DECIMAL(10,0). Column names follow the source columns.
--
-- deleted_at: NULL while the row's key exists in the source; the time of the run that found the key
-- gone otherwise (cleared when the key comes back). Deleted rows are kept for audit; the analytics
-- views and the reconciliation read live rows only. An SCD2 dimension's deleted key also has its
-- current version closed (valid_to = deleted_at, is_current FALSE).
--
-- Redshift: dimensions are copied to every node (DISTSTYLE ALL) so fact-to-dimension joins never
-- move data; the order facts are distributed on order_id so the facts of one order (and the merge
-- joins with their delta tables, distributed the same way) stay on one slice; facts are sorted on
-- a date key, since BI queries restrict by date; dimensions are sorted on their natural key and
-- valid_from, the order of the "version current at purchase" lookup.

-- Category translations, kept apart from the products: a translation can arrive in an earlier
-- (or later) run than the products of its category.
CREATE TABLE IF NOT EXISTS user_access_layer.product_category_translation (
    product_category_name VARCHAR(400) NOT NULL,
    product_category_name_english VARCHAR(400),
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (product_category_name)
)
DISTSTYLE ALL
;

-- Every source customer row (Olist makes one per order): customer_id -> the person,
-- customer_unique_id, that dim_customer is keyed by, and the row's location. Type 1, a mirror of
-- the source table (olist-etl verify compares them); facts look their customer up here.
CREATE TABLE IF NOT EXISTS user_access_layer.customer_account (
    customer_id CHAR(32) NOT NULL,
    customer_unique_id CHAR(32),
    customer_zip_code_prefix CHAR(5),
    customer_city VARCHAR(400),
    customer_state CHAR(2),
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (customer_id)
)
-- ~100k rows, read by every order merge: on every node.
DISTSTYLE ALL
SORTKEY (customer_id)
;

-- One row per version of a person's location (zip, city, state).
CREATE TABLE IF NOT EXISTS user_access_layer.dim_customer (
    customer_key CHAR(32) NOT NULL,
    customer_unique_id CHAR(32),
    customer_zip_code_prefix CHAR(5),
    customer_city VARCHAR(400),
    customer_state CHAR(2),
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP NOT NULL,
    is_current BOOLEAN NOT NULL,
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (customer_key)
)
-- ~100k rows at Kaggle's scale: small enough for a copy per node. Past a few million versions,
-- switch to DISTSTYLE KEY on customer_key.
DISTSTYLE ALL
SORTKEY (customer_unique_id, valid_from)
;

-- One row per version of a product (category, English category name, weight, dimensions).
CREATE TABLE IF NOT EXISTS user_access_layer.dim_product (
    product_key CHAR(32) NOT NULL,
    product_id CHAR(32),
    product_category_name VARCHAR(400),
    -- 'unknown' when the category (or its translation) is missing.
    product_category_name_english VARCHAR(400) NOT NULL,
    product_name_length INTEGER,
    product_description_length INTEGER,
    product_photos_qty INTEGER,
    product_weight_g INTEGER,
    product_length_cm INTEGER,
    product_height_cm INTEGER,
    product_width_cm INTEGER,
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP NOT NULL,
    is_current BOOLEAN NOT NULL,
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (product_key)
)
DISTSTYLE ALL
SORTKEY (product_id, valid_from)
;

-- One row per version of a seller's location.
CREATE TABLE IF NOT EXISTS user_access_layer.dim_seller (
    seller_key CHAR(32) NOT NULL,
    seller_id CHAR(32),
    seller_zip_code_prefix CHAR(5),
    seller_city VARCHAR(400),
    seller_state CHAR(2),
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP NOT NULL,
    is_current BOOLEAN NOT NULL,
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (seller_key)
)
DISTSTYLE ALL
SORTKEY (seller_id, valid_from)
;

-- day_of_week: 0 = Sunday .. 6 = Saturday (EXTRACT(DOW), the same on PostgreSQL and Redshift).
CREATE TABLE IF NOT EXISTS user_access_layer.dim_date (
    date_key INTEGER NOT NULL,
    calendar_date DATE NOT NULL,
    year_number INTEGER,
    quarter_number INTEGER,
    month_number INTEGER,
    day_of_month INTEGER,
    day_of_week INTEGER,
    is_weekend BOOLEAN,
    PRIMARY KEY (date_key)
)
DISTSTYLE ALL
SORTKEY (date_key)
;

-- Every source geolocation row, kept so that a zip's averages can be recomputed when only some
-- of its rows arrive in a delta.
CREATE TABLE IF NOT EXISTS user_access_layer.geolocation_point (
    geolocation_id INTEGER NOT NULL,
    geolocation_zip_code_prefix CHAR(5),
    geolocation_lat DOUBLE PRECISION,
    geolocation_lng DOUBLE PRECISION,
    geolocation_city VARCHAR(400),
    geolocation_state CHAR(2),
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (geolocation_id)
)
-- About a million rows aggregated per zip: distribute and sort on the zip.
DISTSTYLE KEY
DISTKEY (geolocation_zip_code_prefix)
SORTKEY (geolocation_zip_code_prefix)
;

-- One row per zip prefix. Averages are NUMERIC(9,6) (about 0.1 m): a fixed scale makes a
-- recomputed average compare equal to the stored one, so re-running a batch changes nothing.
-- City and state: the alphabetically first spelling among the zip's rows (deterministic).
CREATE TABLE IF NOT EXISTS user_access_layer.dim_geolocation (
    geolocation_zip_code_prefix CHAR(5) NOT NULL,
    geolocation_lat NUMERIC(9,6),
    geolocation_lng NUMERIC(9,6),
    geolocation_city VARCHAR(400),
    geolocation_state CHAR(2),
    point_count INTEGER,
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (geolocation_zip_code_prefix)
)
DISTSTYLE ALL
SORTKEY (geolocation_zip_code_prefix)
;

-- Accumulating snapshot, grain: one order. Each milestone has its timestamp and date key (NULL
-- until reached); the item columns are the sums of the order's rows in fact_order_items, kept
-- right when items arrive in a later run than their order.
CREATE TABLE IF NOT EXISTS user_access_layer.fact_orders (
    order_id CHAR(32) NOT NULL,
    customer_id CHAR(32),
    customer_key CHAR(32) NOT NULL,
    order_status VARCHAR(400),
    order_purchase_timestamp TIMESTAMP,
    order_approved_at TIMESTAMP,
    order_delivered_carrier_date TIMESTAMP,
    order_delivered_customer_date TIMESTAMP,
    order_estimated_delivery_date TIMESTAMP,
    purchase_date_key INTEGER,
    approved_date_key INTEGER,
    delivered_carrier_date_key INTEGER,
    delivered_customer_date_key INTEGER,
    estimated_delivery_date_key INTEGER,
    -- Delivered on a later calendar day than estimated; NULL until delivered.
    is_delivered_late BOOLEAN,
    -- Calendar days from purchase to delivery; NULL until delivered.
    days_to_deliver INTEGER,
    item_count INTEGER,
    items_value NUMERIC(12,2),
    freight_value NUMERIC(12,2),
    order_total NUMERIC(12,2),
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (order_id)
)
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (purchase_date_key)
;

-- Grain: one order item.
CREATE TABLE IF NOT EXISTS user_access_layer.fact_order_items (
    order_id CHAR(32) NOT NULL,
    order_item_id INTEGER NOT NULL,
    purchase_date_key INTEGER,
    customer_key CHAR(32) NOT NULL,
    product_key CHAR(32) NOT NULL,
    seller_key CHAR(32) NOT NULL,
    product_id CHAR(32),
    seller_id CHAR(32),
    shipping_limit_date TIMESTAMP,
    price NUMERIC(12,2),
    freight_value NUMERIC(12,2),
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (order_id, order_item_id)
)
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (purchase_date_key)
;

-- Grain: one payment row of an order (sequential, type, installments, value).
CREATE TABLE IF NOT EXISTS user_access_layer.fact_payments (
    order_id CHAR(32) NOT NULL,
    payment_sequential INTEGER NOT NULL,
    -- The order's purchase date: a payment has no date of its own.
    purchase_date_key INTEGER,
    payment_type VARCHAR(400),
    payment_installments INTEGER,
    payment_value NUMERIC(12,2),
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (order_id, payment_sequential)
)
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (purchase_date_key)
;

-- Grain: one review of one order (a review_id can cover several orders).
CREATE TABLE IF NOT EXISTS user_access_layer.fact_reviews (
    review_id CHAR(32) NOT NULL,
    order_id CHAR(32) NOT NULL,
    review_score INTEGER,
    review_comment_title VARCHAR(65535),
    review_comment_message VARCHAR(65535),
    review_creation_date TIMESTAMP,
    review_answer_timestamp TIMESTAMP,
    review_creation_date_key INTEGER,
    updated_at TIMESTAMP,
    deleted_at TIMESTAMP,
    PRIMARY KEY (review_id, order_id)
)
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (review_creation_date_key)
;
