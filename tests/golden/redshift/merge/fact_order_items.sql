-- fact_order_items: one row per (order_id, order_item_id), keyed to the purchase date and to the
-- customer, product and seller versions current at the order's purchase (the unknown member
-- while a dimension row is missing). Runs after fact_orders.sql: the purchase date and the
-- customer key are the order's, as merged in this run (an item may arrive in a later run than
-- its order). Stored items are re-keyed when their order was restaged or re-keyed, or their
-- product or seller is in this run's delta (a new version, or a late dimension row); a version
-- opened after the purchase leaves the item's key as it was.
CREATE TEMP TABLE merge_source_fact_order_items DISTKEY (order_id) AS
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

rekeyed_keys AS (
    -- One semi-join per reason, UNIONed: ORed IN (subquery) conditions cannot become a join in
    -- PostgreSQL, and once a subquery outgrows work_mem each one is rescanned per row.
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.order_id IN (SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL)
    UNION
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.order_id IN (SELECT order_fact.order_id
    FROM user_access_layer.fact_orders AS order_fact
    INNER JOIN user_access_layer.customer_account AS account ON account.customer_id = order_fact.customer_id
    WHERE account.customer_unique_id IN (
        SELECT customer_unique_id FROM staging_layer.customers WHERE customer_unique_id IS NOT NULL
    ))
    UNION
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.product_id IN (SELECT product_id FROM staging_layer.products WHERE product_id IS NOT NULL)
    UNION
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.seller_id IN (SELECT seller_id FROM staging_layer.sellers WHERE seller_id IS NOT NULL)
),

rekeyed AS (
    SELECT item.order_id, item.order_item_id, item.product_id, item.seller_id, item.shipping_limit_date, item.price, item.freight_value, item.updated_at, item.deleted_at
    FROM user_access_layer.fact_order_items AS item
    INNER JOIN rekeyed_keys AS k ON k.order_id = item.order_id AND k.order_item_id = item.order_item_id
    -- Anti-join (no correlated NOT EXISTS: see fact_orders.sql).
    LEFT JOIN incoming ON incoming.order_id = item.order_id AND incoming.order_item_id = item.order_item_id
    WHERE incoming.order_id IS NULL
),

candidates AS (
    SELECT * FROM incoming
    UNION ALL
    SELECT * FROM rekeyed
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
),

changed AS (
    -- New keys, and keys whose values differ.
    SELECT keyed.*
    FROM keyed
    LEFT JOIN user_access_layer.fact_order_items AS stored
        ON stored.order_id = keyed.order_id
        AND stored.order_item_id = keyed.order_item_id
    WHERE stored.order_id IS NULL
        OR (
                COALESCE(keyed.purchase_date_key <> stored.purchase_date_key, keyed.purchase_date_key IS NOT NULL OR stored.purchase_date_key IS NOT NULL) OR
                COALESCE(keyed.customer_key <> stored.customer_key, keyed.customer_key IS NOT NULL OR stored.customer_key IS NOT NULL) OR
                COALESCE(keyed.product_key <> stored.product_key, keyed.product_key IS NOT NULL OR stored.product_key IS NOT NULL) OR
                COALESCE(keyed.seller_key <> stored.seller_key, keyed.seller_key IS NOT NULL OR stored.seller_key IS NOT NULL) OR
                COALESCE(keyed.product_id <> stored.product_id, keyed.product_id IS NOT NULL OR stored.product_id IS NOT NULL) OR
                COALESCE(keyed.seller_id <> stored.seller_id, keyed.seller_id IS NOT NULL OR stored.seller_id IS NOT NULL) OR
                COALESCE(keyed.shipping_limit_date <> stored.shipping_limit_date, keyed.shipping_limit_date IS NOT NULL OR stored.shipping_limit_date IS NOT NULL) OR
                COALESCE(keyed.price <> stored.price, keyed.price IS NOT NULL OR stored.price IS NOT NULL) OR
                COALESCE(keyed.freight_value <> stored.freight_value, keyed.freight_value IS NOT NULL OR stored.freight_value IS NOT NULL) OR
                COALESCE(keyed.updated_at <> stored.updated_at, keyed.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL) OR
                COALESCE(keyed.deleted_at <> stored.deleted_at, keyed.deleted_at IS NOT NULL OR stored.deleted_at IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.fact_order_items
USING merge_source_fact_order_items AS src
ON fact_order_items.order_id = src.order_id
    AND fact_order_items.order_item_id = src.order_item_id
WHEN MATCHED THEN UPDATE SET
    purchase_date_key = src.purchase_date_key,
    customer_key = src.customer_key,
    product_key = src.product_key,
    seller_key = src.seller_key,
    product_id = src.product_id,
    seller_id = src.seller_id,
    shipping_limit_date = src.shipping_limit_date,
    price = src.price,
    freight_value = src.freight_value,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    order_id, order_item_id, purchase_date_key, customer_key, product_key, seller_key, product_id, seller_id, shipping_limit_date, price, freight_value, updated_at, deleted_at
) VALUES (
    src.order_id, src.order_item_id, src.purchase_date_key, src.customer_key, src.product_key, src.seller_key, src.product_id, src.seller_id, src.shipping_limit_date, src.price, src.freight_value, src.updated_at, src.deleted_at
);
DROP TABLE merge_source_fact_order_items;

