{% import 'warehouse/macros.jinja' as m with context %}
-- fact_orders, item columns: item count, items value (sum of price), freight (sum of
-- freight_value) and their total, from fact_order_items as merged in this run, for every order
-- in the orders or items delta. Runs after fact_order_items.sql, so an item arriving in a later
-- run than its order updates the order's totals. An order without items has 0 and 0.00.
{% set columns = ['item_count', 'items_value', 'freight_value', 'order_total'] %}
{% if empty %}
-- Nothing to do: fact_orders and fact_order_items were empty when the promote started, and the
-- fast path of fact_orders.sql inserted every order with these columns summed from the run's items.
{% else %}
{% call m.merge_into('user_access_layer.fact_orders', 'merge_source_fact_orders_totals', distkey='order_id') %}
WITH touched AS (
    SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL
    UNION
    SELECT order_id FROM staging_layer.order_items WHERE order_id IS NOT NULL
    UNION
    -- Orders whose items were marked deleted in this run (before the merges).
    SELECT order_id FROM user_access_layer.fact_order_items WHERE deleted_at = :deleted_at
),

sums AS (
    SELECT
        touched.order_id,
        CAST(COUNT(item.order_id) AS INTEGER) AS item_count,
        CAST(COALESCE(SUM(item.price), 0) AS NUMERIC(12,2)) AS items_value,
        CAST(COALESCE(SUM(item.freight_value), 0) AS NUMERIC(12,2)) AS freight_value
    FROM touched
    LEFT JOIN user_access_layer.fact_order_items AS item
        ON item.order_id = touched.order_id
        AND item.deleted_at IS NULL
    GROUP BY touched.order_id
),

totals AS (
    SELECT
        order_id,
        item_count,
        items_value,
        freight_value,
        CAST(items_value + freight_value AS NUMERIC(12,2)) AS order_total
    FROM sums
),

changed AS (
    -- Only orders that exist (an item without its order is the post-merge suite's to report)
    -- and whose totals differ.
    SELECT totals.*
    FROM totals
    INNER JOIN user_access_layer.fact_orders AS stored ON stored.order_id = totals.order_id
    WHERE {{ m.any_differs(columns, 'totals', 'stored') }}
)

SELECT * FROM changed
{% endcall %}
ON fact_orders.order_id = src.order_id
WHEN MATCHED THEN UPDATE SET
    item_count = src.item_count,
    items_value = src.items_value,
    freight_value = src.freight_value,
    order_total = src.order_total
-- Never taken (every source row is a stored order), but Redshift's MERGE requires the clause.
WHEN NOT MATCHED THEN INSERT (
    order_id, customer_key, item_count, items_value, freight_value, order_total
) VALUES (
    src.order_id, {{ m.unknown_key() }}, src.item_count, src.items_value, src.freight_value, src.order_total
);
{{ m.drop_merge_source('merge_source_fact_orders_totals') }}
{% endif %}
