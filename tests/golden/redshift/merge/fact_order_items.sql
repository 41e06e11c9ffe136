-- fact_order_items: one row per (order_id, order_item_id), with the purchase date key of its
-- order. Runs after fact_orders.sql, so the key comes from the order as merged in this run (an
-- item may also arrive in a later run than its order).
CREATE TEMP TABLE merge_source_fact_order_items AS
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

restaged_orders AS (
    -- Items merged earlier whose order was restaged in this run: if the order's purchase date
    -- changed, their purchase_date_key must follow.
    SELECT
        item.order_id, item.order_item_id, item.product_id, item.seller_id, item.shipping_limit_date,
        item.price, item.freight_value, item.updated_at
    FROM user_access_layer.fact_order_items AS item
    LEFT JOIN staged
        ON staged.order_id = item.order_id
        AND staged.order_item_id = item.order_item_id
    WHERE staged.order_id IS NULL
        AND item.order_id IN (SELECT order_id FROM staging_layer.orders)
),

candidates AS (
    SELECT * FROM staged
    UNION ALL
    SELECT * FROM restaged_orders
),

keyed AS (
    SELECT
        candidates.order_id,
        candidates.order_item_id,
        candidates.product_id,
        candidates.seller_id,
        candidates.shipping_limit_date,
        candidates.price,
        candidates.freight_value,
        order_fact.purchase_date_key,
        candidates.updated_at
    FROM candidates
    LEFT JOIN user_access_layer.fact_orders AS order_fact ON order_fact.order_id = candidates.order_id
),

stored AS (
    SELECT
        order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value,
        purchase_date_key, updated_at
    FROM user_access_layer.fact_order_items
),

changed AS (
    -- New keys, and keys whose values differ, unless the stored version is newer.
    SELECT keyed.*
    FROM keyed
    LEFT JOIN stored
        ON stored.order_id = keyed.order_id
        AND stored.order_item_id = keyed.order_item_id
    WHERE stored.order_id IS NULL
        OR (
            (stored.updated_at IS NULL OR keyed.updated_at >= stored.updated_at)
            AND (
                COALESCE(keyed.product_id <> stored.product_id, keyed.product_id IS NOT NULL OR stored.product_id IS NOT NULL) OR
                COALESCE(keyed.seller_id <> stored.seller_id, keyed.seller_id IS NOT NULL OR stored.seller_id IS NOT NULL) OR
                COALESCE(keyed.shipping_limit_date <> stored.shipping_limit_date, keyed.shipping_limit_date IS NOT NULL OR stored.shipping_limit_date IS NOT NULL) OR
                COALESCE(keyed.price <> stored.price, keyed.price IS NOT NULL OR stored.price IS NOT NULL) OR
                COALESCE(keyed.freight_value <> stored.freight_value, keyed.freight_value IS NOT NULL OR stored.freight_value IS NOT NULL) OR
                COALESCE(keyed.purchase_date_key <> stored.purchase_date_key, keyed.purchase_date_key IS NOT NULL OR stored.purchase_date_key IS NOT NULL) OR
                COALESCE(keyed.updated_at <> stored.updated_at, keyed.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL)
            )
        )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.fact_order_items
USING merge_source_fact_order_items AS src
ON fact_order_items.order_id = src.order_id
    AND fact_order_items.order_item_id = src.order_item_id
WHEN MATCHED THEN UPDATE SET
    product_id = src.product_id,
    seller_id = src.seller_id,
    shipping_limit_date = src.shipping_limit_date,
    price = src.price,
    freight_value = src.freight_value,
    purchase_date_key = src.purchase_date_key,
    updated_at = src.updated_at
WHEN NOT MATCHED THEN INSERT (
    order_id, order_item_id, product_id, seller_id, shipping_limit_date, price, freight_value,
    purchase_date_key, updated_at
) VALUES (
    src.order_id, src.order_item_id, src.product_id, src.seller_id, src.shipping_limit_date, src.price,
    src.freight_value, src.purchase_date_key, src.updated_at
);
DROP TABLE merge_source_fact_order_items;

