{% import 'warehouse/macros.jinja' as m with context %}
-- The star schema BI tools read. Natural keys for now (a later change moves the dimensions to
-- SCD2 surrogate keys), so each table is keyed by its source identifier. Money is
-- NUMERIC(12,2) everywhere: the original system lost the cents with DECIMAL(10,0).
-- Column names follow the source columns so a value can be traced back without a mapping.
-- Redshift: small dimensions are copied to every node (DISTSTYLE ALL) so joins to them never
-- move data; the order facts are distributed on order_id so facts of one order join locally;
-- facts are sorted on their date key for range-restricted scans.

-- Category translations, kept apart from the products: a translation can arrive in an earlier
-- (or later) run than the products of its category.
CREATE TABLE IF NOT EXISTS user_access_layer.product_category_translation (
    product_category_name {{ m.text() }} NOT NULL,
    product_category_name_english {{ m.text() }},
    updated_at TIMESTAMP,
    PRIMARY KEY (product_category_name)
)
{% if dialect == 'redshift' %}
DISTSTYLE ALL
{% endif %}
;

CREATE TABLE IF NOT EXISTS user_access_layer.dim_customer (
    customer_id CHAR(32) NOT NULL,
    customer_unique_id CHAR(32),
    customer_zip_code_prefix CHAR(5),
    customer_city {{ m.text() }},
    customer_state CHAR(2),
    updated_at TIMESTAMP,
    PRIMARY KEY (customer_id)
)
{% if dialect == 'redshift' %}
DISTSTYLE ALL
SORTKEY (customer_id)
{% endif %}
;

CREATE TABLE IF NOT EXISTS user_access_layer.dim_product (
    product_id CHAR(32) NOT NULL,
    product_category_name {{ m.text() }},
    -- 'unknown' when the category (or its translation) is missing.
    product_category_name_english {{ m.text() }} NOT NULL,
    product_name_length INTEGER,
    product_description_length INTEGER,
    product_photos_qty INTEGER,
    product_weight_g INTEGER,
    product_length_cm INTEGER,
    product_height_cm INTEGER,
    product_width_cm INTEGER,
    updated_at TIMESTAMP,
    PRIMARY KEY (product_id)
)
{% if dialect == 'redshift' %}
DISTSTYLE ALL
SORTKEY (product_id)
{% endif %}
;

CREATE TABLE IF NOT EXISTS user_access_layer.dim_seller (
    seller_id CHAR(32) NOT NULL,
    seller_zip_code_prefix CHAR(5),
    seller_city {{ m.text() }},
    seller_state CHAR(2),
    updated_at TIMESTAMP,
    PRIMARY KEY (seller_id)
)
{% if dialect == 'redshift' %}
DISTSTYLE ALL
SORTKEY (seller_id)
{% endif %}
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
{% if dialect == 'redshift' %}
DISTSTYLE ALL
SORTKEY (date_key)
{% endif %}
;

-- Every source geolocation row, kept so that a zip's averages can be recomputed when only some
-- of its rows arrive in a delta.
CREATE TABLE IF NOT EXISTS user_access_layer.geolocation_point (
    geolocation_id INTEGER NOT NULL,
    geolocation_zip_code_prefix CHAR(5),
    geolocation_lat DOUBLE PRECISION,
    geolocation_lng DOUBLE PRECISION,
    geolocation_city {{ m.text() }},
    geolocation_state CHAR(2),
    updated_at TIMESTAMP,
    PRIMARY KEY (geolocation_id)
)
{% if dialect == 'redshift' %}
-- About a million rows aggregated per zip: distribute and sort on the zip.
DISTSTYLE KEY
DISTKEY (geolocation_zip_code_prefix)
SORTKEY (geolocation_zip_code_prefix)
{% endif %}
;

-- One row per zip prefix. Averages are NUMERIC(9,6) (about 0.1 m): a fixed scale makes a
-- recomputed average compare equal to the stored one, so re-running a batch changes nothing.
-- City and state: the alphabetically first spelling among the zip's rows (deterministic).
CREATE TABLE IF NOT EXISTS user_access_layer.dim_geolocation (
    geolocation_zip_code_prefix CHAR(5) NOT NULL,
    geolocation_lat NUMERIC(9,6),
    geolocation_lng NUMERIC(9,6),
    geolocation_city {{ m.text() }},
    geolocation_state CHAR(2),
    point_count INTEGER,
    updated_at TIMESTAMP,
    PRIMARY KEY (geolocation_zip_code_prefix)
)
{% if dialect == 'redshift' %}
DISTSTYLE ALL
SORTKEY (geolocation_zip_code_prefix)
{% endif %}
;

CREATE TABLE IF NOT EXISTS user_access_layer.fact_orders (
    order_id CHAR(32) NOT NULL,
    customer_id CHAR(32),
    order_status {{ m.text() }},
    order_purchase_timestamp TIMESTAMP,
    order_approved_at TIMESTAMP,
    order_delivered_carrier_date TIMESTAMP,
    order_delivered_customer_date TIMESTAMP,
    order_estimated_delivery_date TIMESTAMP,
    purchase_date_key INTEGER,
    estimated_delivery_date_key INTEGER,
    delivered_date_key INTEGER,
    updated_at TIMESTAMP,
    PRIMARY KEY (order_id)
)
{% if dialect == 'redshift' %}
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (purchase_date_key)
{% endif %}
;

CREATE TABLE IF NOT EXISTS user_access_layer.fact_order_items (
    order_id CHAR(32) NOT NULL,
    order_item_id INTEGER NOT NULL,
    product_id CHAR(32),
    seller_id CHAR(32),
    shipping_limit_date TIMESTAMP,
    price NUMERIC(12,2),
    freight_value NUMERIC(12,2),
    purchase_date_key INTEGER,
    updated_at TIMESTAMP,
    PRIMARY KEY (order_id, order_item_id)
)
{% if dialect == 'redshift' %}
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (purchase_date_key)
{% endif %}
;

CREATE TABLE IF NOT EXISTS user_access_layer.fact_payments (
    order_id CHAR(32) NOT NULL,
    payment_sequential INTEGER NOT NULL,
    payment_type {{ m.text() }},
    payment_installments INTEGER,
    payment_value NUMERIC(12,2),
    updated_at TIMESTAMP,
    PRIMARY KEY (order_id, payment_sequential)
)
{% if dialect == 'redshift' %}
-- No date of its own: sorted on the distribution key, which also serves the merge join.
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (order_id)
{% endif %}
;

CREATE TABLE IF NOT EXISTS user_access_layer.fact_reviews (
    review_id CHAR(32) NOT NULL,
    order_id CHAR(32) NOT NULL,
    review_score INTEGER,
    review_comment_title {{ m.long_text() }},
    review_comment_message {{ m.long_text() }},
    review_creation_date TIMESTAMP,
    review_answer_timestamp TIMESTAMP,
    updated_at TIMESTAMP,
    PRIMARY KEY (review_id, order_id)
)
{% if dialect == 'redshift' %}
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (review_creation_date)
{% endif %}
;
