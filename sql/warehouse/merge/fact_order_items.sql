{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- fact_order_items: one row per (order_id, order_item_id), keyed to the purchase date and to the
-- customer, product and seller versions current at the order's purchase (the unknown member
-- while a dimension row is missing). Runs after fact_orders.sql: the purchase date and the
-- customer key are the order's, as merged in this run (an item may arrive in a later run than
-- its order). Stored items are re-keyed when their order was restaged or re-keyed, or their
-- product or seller is in this run's delta (a new version, or a late dimension row); a version
-- opened after the purchase leaves the item's key as it was.
{% set columns = [
    'purchase_date_key', 'customer_key', 'product_key', 'seller_key', 'product_id', 'seller_id',
    'shipping_limit_date', 'price', 'freight_value', 'updated_at', 'deleted_at'] %}
{% set item_columns = [
    'order_id', 'order_item_id', 'product_id', 'seller_id', 'shipping_limit_date', 'price',
    'freight_value', 'updated_at'] %}
{% set insert_columns = ['order_id', 'order_item_id'] + columns %}
{% call w.write_into('user_access_layer.fact_order_items', 'merge_source_fact_order_items', insert_columns, distkey='order_id') %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        {{ item_columns | join(',\n        ') }},
        ROW_NUMBER() OVER (PARTITION BY order_id, order_item_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.order_items
),

staged AS (
    SELECT {{ item_columns | join(', ') }}
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

{% if not empty %}
rekeyed_keys AS (
    -- One semi-join per reason, UNIONed: ORed IN (subquery) conditions cannot become a join in
    -- PostgreSQL, and once a subquery outgrows work_mem each one is rescanned per row.
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.order_id IN (SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL)
    UNION
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.order_id IN ({{ m.orders_of_staged_customers() }})
    UNION
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.product_id IN (SELECT product_id FROM staging_layer.products WHERE product_id IS NOT NULL)
    UNION
    SELECT item.order_id, item.order_item_id
    FROM user_access_layer.fact_order_items AS item
    WHERE item.seller_id IN (SELECT seller_id FROM staging_layer.sellers WHERE seller_id IS NOT NULL)
),

{% endif %}
{% if not empty %}
rekeyed AS (
    SELECT {% for column in item_columns %}item.{{ column }}, {% endfor %}item.deleted_at
    FROM user_access_layer.fact_order_items AS item
    INNER JOIN rekeyed_keys AS k ON k.order_id = item.order_id AND k.order_item_id = item.order_item_id
    -- Anti-join (no correlated NOT EXISTS: see fact_orders.sql).
    LEFT JOIN incoming ON incoming.order_id = item.order_id AND incoming.order_item_id = item.order_item_id
    WHERE incoming.order_id IS NULL
),

{% endif %}
candidates AS (
    SELECT * FROM incoming
{% if not empty %}
    UNION ALL
    SELECT * FROM rekeyed
{% endif %}
),

keyed AS (
    SELECT
        candidates.order_id,
        candidates.order_item_id,
        order_fact.purchase_date_key,
        COALESCE(order_fact.customer_key, {{ m.unknown_key() }}) AS customer_key,
        COALESCE(product.product_key, {{ m.unknown_key() }}) AS product_key,
        COALESCE(seller.seller_key, {{ m.unknown_key() }}) AS seller_key,
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
        AND {{ m.current_at('product', 'order_fact.order_purchase_timestamp') }}
    LEFT JOIN user_access_layer.dim_seller AS seller
        ON seller.seller_id = candidates.seller_id
        AND {{ m.current_at('seller', 'order_fact.order_purchase_timestamp') }}
){% if not empty %},

changed AS (
    -- New keys, and keys whose values differ.
    SELECT keyed.*
    FROM keyed
    LEFT JOIN user_access_layer.fact_order_items AS stored
        ON stored.order_id = keyed.order_id
        AND stored.order_item_id = keyed.order_item_id
    WHERE stored.order_id IS NULL
        OR {{ m.any_differs(columns, 'keyed', 'stored') }}
){% endif %}


{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM keyed
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON fact_order_items.order_id = src.order_id
    AND fact_order_items.order_item_id = src.order_item_id
WHEN MATCHED THEN UPDATE SET
{% for c in columns %}
    {{ c }} = src.{{ c }}{{ ',' if not loop.last }}
{% endfor %}
WHEN NOT MATCHED THEN INSERT (
    order_id, order_item_id, {{ columns | join(', ') }}
) VALUES (
    src.order_id, src.order_item_id, src.{{ columns | join(', src.') }}
);
{{ m.drop_merge_source('merge_source_fact_order_items') }}
{% endif %}
