{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- fact_orders: the accumulating snapshot, one row per order_id: status, the five milestone
-- timestamps with their date keys, the delivery measures, and the key of the customer version
-- current at purchase (the unknown member while the order's customer row has not arrived).
-- The staged version of an order (its status moved on) replaces the stored row; the item columns
-- are filled by fact_orders_totals.sql once the items are merged. Into an empty fact_orders and
-- fact_order_items (the fast path) this insert sums the staged items itself: they are exactly the
-- items the run merges, and a second pass would rewrite every order row it has just inserted.
{% set columns = [
    'customer_id', 'customer_key', 'order_status', 'order_purchase_timestamp', 'order_approved_at',
    'order_delivered_carrier_date', 'order_delivered_customer_date', 'order_estimated_delivery_date',
    'purchase_date_key', 'approved_date_key', 'delivered_carrier_date_key', 'delivered_customer_date_key',
    'estimated_delivery_date_key', 'is_delivered_late', 'days_to_deliver', 'updated_at', 'deleted_at'] %}
{% set order_columns = [
    'order_id', 'customer_id', 'order_status', 'order_purchase_timestamp', 'order_approved_at',
    'order_delivered_carrier_date', 'order_delivered_customer_date', 'order_estimated_delivery_date',
    'updated_at'] %}
{% set item_columns = ['item_count', 'items_value', 'freight_value', 'order_total'] %}
{% set insert_columns = ['order_id'] + columns + (item_columns if empty else []) %}
{% call w.write_into('user_access_layer.fact_orders', 'merge_source_fact_orders', insert_columns, distkey='order_id') %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        {{ order_columns | join(',\n        ') }},
        ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.orders
),

staged AS (
    SELECT {{ order_columns | join(', ') }}
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

{% if empty %}
item_versions AS (
    -- fact_order_items.sql's newest version of each staged item, which is what it inserts.
    SELECT
        order_id,
        price,
        freight_value,
        ROW_NUMBER() OVER (PARTITION BY order_id, order_item_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.order_items
    WHERE order_id IS NOT NULL
),

item_sums AS (
    SELECT
        order_id,
        CAST(COUNT(*) AS INTEGER) AS item_count,
        CAST(COALESCE(SUM(price), 0) AS NUMERIC(12,2)) AS items_value,
        CAST(COALESCE(SUM(freight_value), 0) AS NUMERIC(12,2)) AS freight_value
    FROM item_versions
    WHERE version_rank = 1
    GROUP BY order_id
),

{% endif %}
{% if not empty %}
rekeyed AS (
    -- Stored orders whose customer key may move: the person got a version this run, or the
    -- customer row arrived after the order (the unknown member is repaired).
    -- A LEFT JOIN anti-join, not NOT EXISTS: Redshift documents correlated subqueries over
    -- window-function CTEs as unsupported (docs/redshift.md, tests/test_redshift_lint.py).
    SELECT stored.{{ order_columns | join(', stored.') }}, stored.deleted_at
    FROM user_access_layer.fact_orders AS stored
    LEFT JOIN incoming ON incoming.order_id = stored.order_id
    WHERE stored.order_id IN ({{ m.orders_of_staged_customers() }})
        AND incoming.order_id IS NULL
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
        candidates.customer_id,
        COALESCE(customer.customer_key, {{ m.unknown_key() }}) AS customer_key,
        candidates.order_status,
        candidates.order_purchase_timestamp,
        candidates.order_approved_at,
        candidates.order_delivered_carrier_date,
        candidates.order_delivered_customer_date,
        candidates.order_estimated_delivery_date,
        {{ m.date_key('candidates.order_purchase_timestamp') }} AS purchase_date_key,
        {{ m.date_key('candidates.order_approved_at') }} AS approved_date_key,
        {{ m.date_key('candidates.order_delivered_carrier_date') }} AS delivered_carrier_date_key,
        {{ m.date_key('candidates.order_delivered_customer_date') }} AS delivered_customer_date_key,
        {{ m.date_key('candidates.order_estimated_delivery_date') }} AS estimated_delivery_date_key,
        -- Late means delivered on a later calendar day than estimated (the estimate is a date).
        CASE
            WHEN candidates.order_delivered_customer_date IS NULL
                OR candidates.order_estimated_delivery_date IS NULL THEN NULL
            WHEN CAST(candidates.order_delivered_customer_date AS DATE)
                > CAST(candidates.order_estimated_delivery_date AS DATE) THEN TRUE
            ELSE FALSE
        END AS is_delivered_late,
        {{ m.days_between('CAST(candidates.order_purchase_timestamp AS DATE)', 'CAST(candidates.order_delivered_customer_date AS DATE)') }} AS days_to_deliver,
        candidates.updated_at,
        candidates.deleted_at
    FROM candidates
    LEFT JOIN user_access_layer.customer_account AS account ON account.customer_id = candidates.customer_id
    LEFT JOIN user_access_layer.dim_customer AS customer
        ON customer.customer_unique_id = account.customer_unique_id
        AND {{ m.current_at('customer', 'candidates.order_purchase_timestamp') }}
){% if not empty %},

changed AS (
    -- New keys, and keys whose values differ.
    SELECT keyed.*
    FROM keyed
    LEFT JOIN user_access_layer.fact_orders AS stored ON stored.order_id = keyed.order_id
    WHERE stored.order_id IS NULL
        OR {{ m.any_differs(columns, 'keyed', 'stored') }}
){% endif %}


{% if empty %}
-- fact_orders_totals.sql's values: an order without items has 0 and 0.00.
SELECT
    keyed.{{ (['order_id'] + columns) | join(',\n    keyed.') }},
    COALESCE(item_sums.item_count, 0) AS item_count,
    COALESCE(item_sums.items_value, 0) AS items_value,
    COALESCE(item_sums.freight_value, 0) AS freight_value,
    CAST(COALESCE(item_sums.items_value, 0) + COALESCE(item_sums.freight_value, 0) AS NUMERIC(12,2)) AS order_total
FROM keyed
LEFT JOIN item_sums ON item_sums.order_id = keyed.order_id
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON fact_orders.order_id = src.order_id
WHEN MATCHED THEN UPDATE SET
{% for c in columns %}
    {{ c }} = src.{{ c }}{{ ',' if not loop.last }}
{% endfor %}
WHEN NOT MATCHED THEN INSERT (
    order_id, {{ columns | join(', ') }}
) VALUES (
    src.order_id, src.{{ columns | join(', src.') }}
);
{{ m.drop_merge_source('merge_source_fact_orders') }}
{% endif %}
