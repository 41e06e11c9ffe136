{% import 'warehouse/macros.jinja' as m with context %}
-- fact_orders: one row per order_id with its status, five timestamps and their date keys.
-- A newer version of an order (e.g. its status changed) replaces the stored row.
{% set columns = [
    'customer_id', 'order_status', 'order_purchase_timestamp', 'order_approved_at',
    'order_delivered_carrier_date', 'order_delivered_customer_date', 'order_estimated_delivery_date',
    'purchase_date_key', 'estimated_delivery_date_key', 'delivered_date_key', 'updated_at'] %}
{% call m.merge_into('user_access_layer.fact_orders', 'merge_source_fact_orders') %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        order_id,
        customer_id,
        order_status,
        order_purchase_timestamp,
        order_approved_at,
        order_delivered_carrier_date,
        order_delivered_customer_date,
        order_estimated_delivery_date,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.orders
),

staged AS (
    SELECT
        order_id,
        customer_id,
        order_status,
        order_purchase_timestamp,
        order_approved_at,
        order_delivered_carrier_date,
        order_delivered_customer_date,
        order_estimated_delivery_date,
        {{ m.date_key('order_purchase_timestamp') }} AS purchase_date_key,
        {{ m.date_key('order_estimated_delivery_date') }} AS estimated_delivery_date_key,
        {{ m.date_key('order_delivered_customer_date') }} AS delivered_date_key,
        updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

stored AS (
    SELECT
        order_id, customer_id, order_status, order_purchase_timestamp, order_approved_at,
        order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date,
        purchase_date_key, estimated_delivery_date_key, delivered_date_key, updated_at
    FROM user_access_layer.fact_orders
),

changed AS (
    -- New keys, and keys whose values differ, unless the stored version is newer.
    SELECT staged.*
    FROM staged
    LEFT JOIN stored ON stored.order_id = staged.order_id
    WHERE stored.order_id IS NULL
        OR (
            (stored.updated_at IS NULL OR staged.updated_at >= stored.updated_at)
            AND {{ m.any_differs(columns, 'staged', 'stored') }}
        )
)

SELECT * FROM changed
{% endcall %}
ON fact_orders.order_id = src.order_id
WHEN MATCHED THEN UPDATE SET
    customer_id = src.customer_id,
    order_status = src.order_status,
    order_purchase_timestamp = src.order_purchase_timestamp,
    order_approved_at = src.order_approved_at,
    order_delivered_carrier_date = src.order_delivered_carrier_date,
    order_delivered_customer_date = src.order_delivered_customer_date,
    order_estimated_delivery_date = src.order_estimated_delivery_date,
    purchase_date_key = src.purchase_date_key,
    estimated_delivery_date_key = src.estimated_delivery_date_key,
    delivered_date_key = src.delivered_date_key,
    updated_at = src.updated_at
WHEN NOT MATCHED THEN INSERT (
    order_id, customer_id, order_status, order_purchase_timestamp, order_approved_at,
    order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date,
    purchase_date_key, estimated_delivery_date_key, delivered_date_key, updated_at
) VALUES (
    src.order_id, src.customer_id, src.order_status, src.order_purchase_timestamp, src.order_approved_at,
    src.order_delivered_carrier_date, src.order_delivered_customer_date, src.order_estimated_delivery_date,
    src.purchase_date_key, src.estimated_delivery_date_key, src.delivered_date_key, src.updated_at
);
{{ m.drop_merge_source('merge_source_fact_orders') }}
