-- The star-schema tables that hold no row yet (a dimension's unknown member aside), read once
-- when the promote starts, inside its transaction: each merge step whose stored state is all
-- empty writes with a plain INSERT (merge/write.jinja). One row per table, stored_rows 0 or 1;
-- LIMIT 1 stops each probe at its first row.
WITH
product_category_translation_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."product_category_translation"
    LIMIT 1
),

dim_product_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."dim_product"
    WHERE product_key <> '00000000000000000000000000000000'
    LIMIT 1
),

customer_account_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."customer_account"
    LIMIT 1
),

dim_customer_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."dim_customer"
    WHERE customer_key <> '00000000000000000000000000000000'
    LIMIT 1
),

dim_seller_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."dim_seller"
    WHERE seller_key <> '00000000000000000000000000000000'
    LIMIT 1
),

dim_geolocation_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."dim_geolocation"
    LIMIT 1
),

geolocation_point_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."geolocation_point"
    LIMIT 1
),

dim_date_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."dim_date"
    LIMIT 1
),

fact_orders_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."fact_orders"
    LIMIT 1
),

fact_order_items_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."fact_order_items"
    LIMIT 1
),

fact_payments_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."fact_payments"
    LIMIT 1
),

fact_reviews_probe AS (
    SELECT 1 AS found
    FROM user_access_layer."fact_reviews"
    LIMIT 1
)

SELECT 'product_category_translation' AS table_name, COUNT(*) AS stored_rows FROM product_category_translation_probe
UNION ALL
SELECT 'dim_product' AS table_name, COUNT(*) AS stored_rows FROM dim_product_probe
UNION ALL
SELECT 'customer_account' AS table_name, COUNT(*) AS stored_rows FROM customer_account_probe
UNION ALL
SELECT 'dim_customer' AS table_name, COUNT(*) AS stored_rows FROM dim_customer_probe
UNION ALL
SELECT 'dim_seller' AS table_name, COUNT(*) AS stored_rows FROM dim_seller_probe
UNION ALL
SELECT 'dim_geolocation' AS table_name, COUNT(*) AS stored_rows FROM dim_geolocation_probe
UNION ALL
SELECT 'geolocation_point' AS table_name, COUNT(*) AS stored_rows FROM geolocation_point_probe
UNION ALL
SELECT 'dim_date' AS table_name, COUNT(*) AS stored_rows FROM dim_date_probe
UNION ALL
SELECT 'fact_orders' AS table_name, COUNT(*) AS stored_rows FROM fact_orders_probe
UNION ALL
SELECT 'fact_order_items' AS table_name, COUNT(*) AS stored_rows FROM fact_order_items_probe
UNION ALL
SELECT 'fact_payments' AS table_name, COUNT(*) AS stored_rows FROM fact_payments_probe
UNION ALL
SELECT 'fact_reviews' AS table_name, COUNT(*) AS stored_rows FROM fact_reviews_probe
;
