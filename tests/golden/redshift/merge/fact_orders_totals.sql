-- fact_orders, item columns: item count, items value (sum of price), freight (sum of
-- freight_value) and their total, from fact_order_items as merged in this run, for every order
-- in the orders or items delta. Runs after fact_order_items.sql, so an item arriving in a later
-- run than its order updates the order's totals. An order without items has 0 and 0.00.
CREATE TEMP TABLE merge_source_fact_orders_totals DISTKEY (order_id) AS
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
    WHERE (
                COALESCE(totals.item_count <> stored.item_count, totals.item_count IS NOT NULL OR stored.item_count IS NOT NULL) OR
                COALESCE(totals.items_value <> stored.items_value, totals.items_value IS NOT NULL OR stored.items_value IS NOT NULL) OR
                COALESCE(totals.freight_value <> stored.freight_value, totals.freight_value IS NOT NULL OR stored.freight_value IS NOT NULL) OR
                COALESCE(totals.order_total <> stored.order_total, totals.order_total IS NOT NULL OR stored.order_total IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.fact_orders
USING merge_source_fact_orders_totals AS src
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
    src.order_id, '00000000000000000000000000000000', src.item_count, src.items_value, src.freight_value, src.order_total
);
DROP TABLE merge_source_fact_orders_totals;

