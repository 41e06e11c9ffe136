-- Marks the rows of user_access_layer.product_category_translation whose key is gone from the source table
-- product_category_name_translation: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_product_category_name_translation
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."product_category_translation"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."product_category_name"
    FROM user_access_layer."product_category_translation" AS stored
    LEFT JOIN staging_layer."product_category_name_translation" AS staged
        ON staged."product_category_name" = stored."product_category_name"
    WHERE stored.deleted_at IS NULL
        AND staged."product_category_name" IS NULL
) AS gone
WHERE "product_category_translation"."product_category_name" = gone."product_category_name"
;

-- Marks the rows of user_access_layer.product_category_translation whose key is gone from the source table
-- product_category_name_translation: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_product_category_name_translation
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."product_category_translation"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."product_category_name"
    FROM user_access_layer."product_category_translation" AS stored
    INNER JOIN staging_layer."deleted_product_category_name_translation" AS listed
        ON listed."product_category_name" = stored."product_category_name"
    LEFT JOIN staging_layer."product_category_name_translation" AS staged
        ON staged."product_category_name" = stored."product_category_name"
    WHERE stored.deleted_at IS NULL
        AND staged."product_category_name" IS NULL
) AS gone
WHERE "product_category_translation"."product_category_name" = gone."product_category_name"
;

-- Marks the rows of user_access_layer.dim_product whose key is gone from the source table
-- products: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_products
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."dim_product"
SET
    deleted_at = :deleted_at
    , valid_to = GREATEST(valid_from, :deleted_at)
    , is_current = FALSE
FROM (
    SELECT stored."product_id"
    FROM user_access_layer."dim_product" AS stored
    LEFT JOIN staging_layer."products" AS staged
        ON staged."product_id" = stored."product_id"
    WHERE stored.deleted_at IS NULL
        AND staged."product_id" IS NULL
        AND stored.is_current
        AND stored."product_id" IS NOT NULL
) AS gone
WHERE "dim_product"."product_id" = gone."product_id"
    AND "dim_product".is_current
;

-- Marks the rows of user_access_layer.dim_product whose key is gone from the source table
-- products: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_products
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."dim_product"
SET
    deleted_at = :deleted_at
    , valid_to = GREATEST(valid_from, :deleted_at)
    , is_current = FALSE
FROM (
    SELECT stored."product_id"
    FROM user_access_layer."dim_product" AS stored
    INNER JOIN staging_layer."deleted_products" AS listed
        ON listed."product_id" = stored."product_id"
    LEFT JOIN staging_layer."products" AS staged
        ON staged."product_id" = stored."product_id"
    WHERE stored.deleted_at IS NULL
        AND staged."product_id" IS NULL
        AND stored.is_current
        AND stored."product_id" IS NOT NULL
) AS gone
WHERE "dim_product"."product_id" = gone."product_id"
    AND "dim_product".is_current
;

-- Marks the rows of user_access_layer.customer_account whose key is gone from the source table
-- customers: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_customers
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."customer_account"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."customer_id"
    FROM user_access_layer."customer_account" AS stored
    LEFT JOIN staging_layer."customers" AS staged
        ON staged."customer_id" = stored."customer_id"
    WHERE stored.deleted_at IS NULL
        AND staged."customer_id" IS NULL
) AS gone
WHERE "customer_account"."customer_id" = gone."customer_id"
;

-- Marks the rows of user_access_layer.customer_account whose key is gone from the source table
-- customers: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_customers
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."customer_account"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."customer_id"
    FROM user_access_layer."customer_account" AS stored
    INNER JOIN staging_layer."deleted_customers" AS listed
        ON listed."customer_id" = stored."customer_id"
    LEFT JOIN staging_layer."customers" AS staged
        ON staged."customer_id" = stored."customer_id"
    WHERE stored.deleted_at IS NULL
        AND staged."customer_id" IS NULL
) AS gone
WHERE "customer_account"."customer_id" = gone."customer_id"
;

-- Marks the rows of user_access_layer.dim_seller whose key is gone from the source table
-- sellers: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_sellers
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."dim_seller"
SET
    deleted_at = :deleted_at
    , valid_to = GREATEST(valid_from, :deleted_at)
    , is_current = FALSE
FROM (
    SELECT stored."seller_id"
    FROM user_access_layer."dim_seller" AS stored
    LEFT JOIN staging_layer."sellers" AS staged
        ON staged."seller_id" = stored."seller_id"
    WHERE stored.deleted_at IS NULL
        AND staged."seller_id" IS NULL
        AND stored.is_current
        AND stored."seller_id" IS NOT NULL
) AS gone
WHERE "dim_seller"."seller_id" = gone."seller_id"
    AND "dim_seller".is_current
;

-- Marks the rows of user_access_layer.dim_seller whose key is gone from the source table
-- sellers: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_sellers
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."dim_seller"
SET
    deleted_at = :deleted_at
    , valid_to = GREATEST(valid_from, :deleted_at)
    , is_current = FALSE
FROM (
    SELECT stored."seller_id"
    FROM user_access_layer."dim_seller" AS stored
    INNER JOIN staging_layer."deleted_sellers" AS listed
        ON listed."seller_id" = stored."seller_id"
    LEFT JOIN staging_layer."sellers" AS staged
        ON staged."seller_id" = stored."seller_id"
    WHERE stored.deleted_at IS NULL
        AND staged."seller_id" IS NULL
        AND stored.is_current
        AND stored."seller_id" IS NOT NULL
) AS gone
WHERE "dim_seller"."seller_id" = gone."seller_id"
    AND "dim_seller".is_current
;

-- Marks the rows of user_access_layer.geolocation_point whose key is gone from the source table
-- geolocation: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_geolocation
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."geolocation_point"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."geolocation_id"
    FROM user_access_layer."geolocation_point" AS stored
    LEFT JOIN staging_layer."geolocation" AS staged
        ON staged."geolocation_id" = stored."geolocation_id"
    WHERE stored.deleted_at IS NULL
        AND staged."geolocation_id" IS NULL
) AS gone
WHERE "geolocation_point"."geolocation_id" = gone."geolocation_id"
;

-- Marks the rows of user_access_layer.geolocation_point whose key is gone from the source table
-- geolocation: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_geolocation
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."geolocation_point"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."geolocation_id"
    FROM user_access_layer."geolocation_point" AS stored
    INNER JOIN staging_layer."deleted_geolocation" AS listed
        ON listed."geolocation_id" = stored."geolocation_id"
    LEFT JOIN staging_layer."geolocation" AS staged
        ON staged."geolocation_id" = stored."geolocation_id"
    WHERE stored.deleted_at IS NULL
        AND staged."geolocation_id" IS NULL
) AS gone
WHERE "geolocation_point"."geolocation_id" = gone."geolocation_id"
;

-- Marks the rows of user_access_layer.fact_orders whose key is gone from the source table
-- orders: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_orders
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_orders"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id"
    FROM user_access_layer."fact_orders" AS stored
    LEFT JOIN staging_layer."orders" AS staged
        ON staged."order_id" = stored."order_id"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_orders"."order_id" = gone."order_id"
;

-- Marks the rows of user_access_layer.fact_orders whose key is gone from the source table
-- orders: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_orders
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_orders"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id"
    FROM user_access_layer."fact_orders" AS stored
    INNER JOIN staging_layer."deleted_orders" AS listed
        ON listed."order_id" = stored."order_id"
    LEFT JOIN staging_layer."orders" AS staged
        ON staged."order_id" = stored."order_id"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_orders"."order_id" = gone."order_id"
;

-- Marks the rows of user_access_layer.fact_orders whose key is gone from the source table
-- orders: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_orders
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_orders"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id"
    FROM user_access_layer."fact_orders" AS stored
    INNER JOIN (
        SELECT order_id FROM user_access_layer.fact_orders
        WHERE order_purchase_timestamp >= :purchased_from AND order_purchase_timestamp < :purchased_before
        UNION
        SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL
    ) AS ranged ON ranged.order_id = stored.order_id
    LEFT JOIN staging_layer."orders" AS staged
        ON staged."order_id" = stored."order_id"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_orders"."order_id" = gone."order_id"
;

-- Marks the rows of user_access_layer.fact_order_items whose key is gone from the source table
-- order_items: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_items
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_order_items"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id", stored."order_item_id"
    FROM user_access_layer."fact_order_items" AS stored
    LEFT JOIN staging_layer."order_items" AS staged
        ON staged."order_id" = stored."order_id" AND staged."order_item_id" = stored."order_item_id"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_order_items"."order_id" = gone."order_id" AND "fact_order_items"."order_item_id" = gone."order_item_id"
;

-- Marks the rows of user_access_layer.fact_order_items whose key is gone from the source table
-- order_items: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_items
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_order_items"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id", stored."order_item_id"
    FROM user_access_layer."fact_order_items" AS stored
    INNER JOIN staging_layer."deleted_order_items" AS listed
        ON listed."order_id" = stored."order_id" AND listed."order_item_id" = stored."order_item_id"
    LEFT JOIN staging_layer."order_items" AS staged
        ON staged."order_id" = stored."order_id" AND staged."order_item_id" = stored."order_item_id"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_order_items"."order_id" = gone."order_id" AND "fact_order_items"."order_item_id" = gone."order_item_id"
;

-- Marks the rows of user_access_layer.fact_order_items whose key is gone from the source table
-- order_items: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_items
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_order_items"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id", stored."order_item_id"
    FROM user_access_layer."fact_order_items" AS stored
    INNER JOIN (
        SELECT order_id FROM user_access_layer.fact_orders
        WHERE order_purchase_timestamp >= :purchased_from AND order_purchase_timestamp < :purchased_before
        UNION
        SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL
    ) AS ranged ON ranged.order_id = stored.order_id
    LEFT JOIN staging_layer."order_items" AS staged
        ON staged."order_id" = stored."order_id" AND staged."order_item_id" = stored."order_item_id"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_order_items"."order_id" = gone."order_id" AND "fact_order_items"."order_item_id" = gone."order_item_id"
;

-- Marks the rows of user_access_layer.fact_payments whose key is gone from the source table
-- order_payments: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_payments
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_payments"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id", stored."payment_sequential"
    FROM user_access_layer."fact_payments" AS stored
    LEFT JOIN staging_layer."order_payments" AS staged
        ON staged."order_id" = stored."order_id" AND staged."payment_sequential" = stored."payment_sequential"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_payments"."order_id" = gone."order_id" AND "fact_payments"."payment_sequential" = gone."payment_sequential"
;

-- Marks the rows of user_access_layer.fact_payments whose key is gone from the source table
-- order_payments: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_payments
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_payments"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id", stored."payment_sequential"
    FROM user_access_layer."fact_payments" AS stored
    INNER JOIN staging_layer."deleted_order_payments" AS listed
        ON listed."order_id" = stored."order_id" AND listed."payment_sequential" = stored."payment_sequential"
    LEFT JOIN staging_layer."order_payments" AS staged
        ON staged."order_id" = stored."order_id" AND staged."payment_sequential" = stored."payment_sequential"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_payments"."order_id" = gone."order_id" AND "fact_payments"."payment_sequential" = gone."payment_sequential"
;

-- Marks the rows of user_access_layer.fact_payments whose key is gone from the source table
-- order_payments: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_payments
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_payments"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."order_id", stored."payment_sequential"
    FROM user_access_layer."fact_payments" AS stored
    INNER JOIN (
        SELECT order_id FROM user_access_layer.fact_orders
        WHERE order_purchase_timestamp >= :purchased_from AND order_purchase_timestamp < :purchased_before
        UNION
        SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL
    ) AS ranged ON ranged.order_id = stored.order_id
    LEFT JOIN staging_layer."order_payments" AS staged
        ON staged."order_id" = stored."order_id" AND staged."payment_sequential" = stored."payment_sequential"
    WHERE stored.deleted_at IS NULL
        AND staged."order_id" IS NULL
) AS gone
WHERE "fact_payments"."order_id" = gone."order_id" AND "fact_payments"."payment_sequential" = gone."payment_sequential"
;

-- Marks the rows of user_access_layer.fact_reviews whose key is gone from the source table
-- order_reviews: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_reviews
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_reviews"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."review_id", stored."order_id"
    FROM user_access_layer."fact_reviews" AS stored
    LEFT JOIN staging_layer."order_reviews" AS staged
        ON staged."review_id" = stored."review_id" AND staged."order_id" = stored."order_id"
    WHERE stored.deleted_at IS NULL
        AND staged."review_id" IS NULL
) AS gone
WHERE "fact_reviews"."review_id" = gone."review_id" AND "fact_reviews"."order_id" = gone."order_id"
;

-- Marks the rows of user_access_layer.fact_reviews whose key is gone from the source table
-- order_reviews: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_reviews
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_reviews"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."review_id", stored."order_id"
    FROM user_access_layer."fact_reviews" AS stored
    INNER JOIN staging_layer."deleted_order_reviews" AS listed
        ON listed."review_id" = stored."review_id" AND listed."order_id" = stored."order_id"
    LEFT JOIN staging_layer."order_reviews" AS staged
        ON staged."review_id" = stored."review_id" AND staged."order_id" = stored."order_id"
    WHERE stored.deleted_at IS NULL
        AND staged."review_id" IS NULL
) AS gone
WHERE "fact_reviews"."review_id" = gone."review_id" AND "fact_reviews"."order_id" = gone."order_id"
;

-- Marks the rows of user_access_layer.fact_reviews whose key is gone from the source table
-- order_reviews: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_order_reviews
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
UPDATE user_access_layer."fact_reviews"
SET
    deleted_at = :deleted_at
FROM (
    SELECT stored."review_id", stored."order_id"
    FROM user_access_layer."fact_reviews" AS stored
    INNER JOIN (
        SELECT order_id FROM user_access_layer.fact_orders
        WHERE order_purchase_timestamp >= :purchased_from AND order_purchase_timestamp < :purchased_before
        UNION
        SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL
    ) AS ranged ON ranged.order_id = stored.order_id
    LEFT JOIN staging_layer."order_reviews" AS staged
        ON staged."review_id" = stored."review_id" AND staged."order_id" = stored."order_id"
    WHERE stored.deleted_at IS NULL
        AND staged."review_id" IS NULL
) AS gone
WHERE "fact_reviews"."review_id" = gone."review_id" AND "fact_reviews"."order_id" = gone."order_id"
;
