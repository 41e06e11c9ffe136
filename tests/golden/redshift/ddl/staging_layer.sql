-- Delta tables: one per source table, named like it, with exactly the columns of a staged CSV
-- part (the catalog columns plus updated_at), typed like the source. No keys and no NOT NULL:
-- a bad row must load so that the validation gate can report it instead of COPY failing early.

CREATE TABLE IF NOT EXISTS staging_layer."customers" (
    "customer_id" CHAR(32),
    "customer_unique_id" CHAR(32),
    "customer_zip_code_prefix" CHAR(5),
    "customer_city" VARCHAR(400),
    "customer_state" CHAR(2),
    "updated_at" TIMESTAMP
)
-- Merges into DISTSTYLE ALL dimensions, which join locally whatever the distribution.
DISTSTYLE AUTO
;

CREATE TABLE IF NOT EXISTS staging_layer."geolocation" (
    "geolocation_id" INTEGER,
    "geolocation_zip_code_prefix" CHAR(5),
    "geolocation_lat" DOUBLE PRECISION,
    "geolocation_lng" DOUBLE PRECISION,
    "geolocation_city" VARCHAR(400),
    "geolocation_state" CHAR(2),
    "updated_at" TIMESTAMP
)
-- Co-located with geolocation_point, which is distributed on the zip it is aggregated by.
DISTSTYLE KEY
DISTKEY ("geolocation_zip_code_prefix")
;

CREATE TABLE IF NOT EXISTS staging_layer."orders" (
    "order_id" CHAR(32),
    "customer_id" CHAR(32),
    "order_status" VARCHAR(400),
    "order_purchase_timestamp" TIMESTAMP,
    "order_approved_at" TIMESTAMP,
    "order_delivered_carrier_date" TIMESTAMP,
    "order_delivered_customer_date" TIMESTAMP,
    "order_estimated_delivery_date" TIMESTAMP,
    "updated_at" TIMESTAMP
)
-- Co-located with the order facts it merges into (they are distributed on order_id).
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."order_items" (
    "order_id" CHAR(32),
    "order_item_id" INTEGER,
    "product_id" CHAR(32),
    "seller_id" CHAR(32),
    "shipping_limit_date" TIMESTAMP,
    "price" NUMERIC(12,2),
    "freight_value" NUMERIC(12,2),
    "updated_at" TIMESTAMP
)
-- Co-located with the order facts it merges into (they are distributed on order_id).
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."order_payments" (
    "order_id" CHAR(32),
    "payment_sequential" INTEGER,
    "payment_type" VARCHAR(400),
    "payment_installments" INTEGER,
    "payment_value" NUMERIC(12,2),
    "updated_at" TIMESTAMP
)
-- Co-located with the order facts it merges into (they are distributed on order_id).
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."order_reviews" (
    "review_id" CHAR(32),
    "order_id" CHAR(32),
    "review_score" INTEGER,
    "review_comment_title" VARCHAR(65535),
    "review_comment_message" VARCHAR(65535),
    "review_creation_date" TIMESTAMP,
    "review_answer_timestamp" TIMESTAMP,
    "updated_at" TIMESTAMP
)
-- Co-located with the order facts it merges into (they are distributed on order_id).
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."products" (
    "product_id" CHAR(32),
    "product_category_name" VARCHAR(400),
    "product_name_length" INTEGER,
    "product_description_length" INTEGER,
    "product_photos_qty" INTEGER,
    "product_weight_g" INTEGER,
    "product_length_cm" INTEGER,
    "product_height_cm" INTEGER,
    "product_width_cm" INTEGER,
    "updated_at" TIMESTAMP
)
-- Merges into DISTSTYLE ALL dimensions, which join locally whatever the distribution.
DISTSTYLE AUTO
;

CREATE TABLE IF NOT EXISTS staging_layer."sellers" (
    "seller_id" CHAR(32),
    "seller_zip_code_prefix" CHAR(5),
    "seller_city" VARCHAR(400),
    "seller_state" CHAR(2),
    "updated_at" TIMESTAMP
)
-- Merges into DISTSTYLE ALL dimensions, which join locally whatever the distribution.
DISTSTYLE AUTO
;

CREATE TABLE IF NOT EXISTS staging_layer."product_category_name_translation" (
    "product_category_name" VARCHAR(400),
    "product_category_name_english" VARCHAR(400),
    "updated_at" TIMESTAMP
)
-- Merges into DISTSTYLE ALL dimensions, which join locally whatever the distribution.
DISTSTYLE AUTO
;

-- Deleted keys: one table per source table, with the catalog key columns. An incremental or diff
-- sync fills it (inside the promote transaction) with the keys the source comparison found gone;
-- the merge marks those rows deleted (merge/mark_deleted.sql).

CREATE TABLE IF NOT EXISTS staging_layer."deleted_customers" (
    "customer_id" CHAR(32)
)
DISTSTYLE AUTO
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_geolocation" (
    "geolocation_id" INTEGER
)
DISTSTYLE AUTO
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_orders" (
    "order_id" CHAR(32)
)
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_order_items" (
    "order_id" CHAR(32),
    "order_item_id" INTEGER
)
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_order_payments" (
    "order_id" CHAR(32),
    "payment_sequential" INTEGER
)
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_order_reviews" (
    "review_id" CHAR(32),
    "order_id" CHAR(32)
)
DISTSTYLE KEY
DISTKEY ("order_id")
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_products" (
    "product_id" CHAR(32)
)
DISTSTYLE AUTO
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_sellers" (
    "seller_id" CHAR(32)
)
DISTSTYLE AUTO
;

CREATE TABLE IF NOT EXISTS staging_layer."deleted_product_category_name_translation" (
    "product_category_name" VARCHAR(400)
)
DISTSTYLE AUTO
;
