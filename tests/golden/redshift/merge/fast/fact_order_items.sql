-- fact_order_items: one row per (order_id, order_item_id), keyed to the purchase date and to the
-- customer, product and seller versions current at the order's purchase (the unknown member
-- while a dimension row is missing). Runs after fact_orders.sql: the purchase date and the
-- customer key are the order's, as merged in this run (an item may arrive in a later run than
-- its order). Stored items are re-keyed when their order was restaged or re-keyed, or their
-- product or seller is in this run's delta (a new version, or a late dimension row); a version
-- opened after the purchase leaves the item's key as it was.
INSERT INTO user_access_layer.fact_order_items (
    order_id, order_item_id, purchase_date_key, customer_key, product_key, seller_key, product_id, seller_id, shipping_limit_date, price, freight_value, updated_at, deleted_at
)
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        order_id,
        order_item_id,
        product_id,
        seller_id,
        shipping_limit_date,
        price,
        freight_value,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY order_id, order_item_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.order_items
),

staged AS (
    SELECT order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

incoming AS (
    -- Every staged row: it is the source's current state, whatever its updated_at says (a row
    -- restored from a backup or corrected under a clock set back is synced too). A key that was
    -- marked deleted and is staged again comes back (deleted_at NULL).
    SELECT staged.*, CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged
),

candidates AS (
    SELECT * FROM incoming
),

keyed AS (
    SELECT
        candidates.order_id,
        candidates.order_item_id,
        order_fact.purchase_date_key,
        COALESCE(order_fact.customer_key, '00000000000000000000000000000000') AS customer_key,
        COALESCE(product.product_key, '00000000000000000000000000000000') AS product_key,
        COALESCE(seller.seller_key, '00000000000000000000000000000000') AS seller_key,
        candidates.product_id,
        candidates.seller_id,
        candidates.shipping_limit_date,
        candidates.price,
        candidates.freight_value,
        candidates.updated_at,
        candidates.deleted_at
    FROM candidates
    LEFT JOIN user_access_layer.fact_orders AS order_fact ON order_fact.order_id = candidates.order_id
    LEFT JOIN user_access_layer.dim_product AS product
        ON product.product_id = candidates.product_id
        AND ((order_fact.order_purchase_timestamp IS NULL AND product.is_current) OR (product.valid_from <= order_fact.order_purchase_timestamp AND order_fact.order_purchase_timestamp < product.valid_to))
    LEFT JOIN user_access_layer.dim_seller AS seller
        ON seller.seller_id = candidates.seller_id
        AND ((order_fact.order_purchase_timestamp IS NULL AND seller.is_current) OR (seller.valid_from <= order_fact.order_purchase_timestamp AND order_fact.order_purchase_timestamp < seller.valid_to))
)

SELECT order_id, order_item_id, purchase_date_key, customer_key, product_key, seller_key, product_id, seller_id, shipping_limit_date, price, freight_value, updated_at, deleted_at FROM keyed;
