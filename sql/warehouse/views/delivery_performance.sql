{% import 'warehouse/views/_macros.jinja' as v with context %}
-- Delivery performance by purchase month, for BI tools. Grain: one row per year and month of
-- purchase. Only orders delivered to the customer count (whatever their status now): late_share
-- = late / delivered, where late means delivered after the estimated date (fact_orders'
-- is_delivered_late); days_to_deliver is fact_orders' whole days from purchase to delivery.
-- The median is PERCENTILE_CONT, an aggregate on both PostgreSQL and Redshift (on Redshift it
-- must be the only sort-based aggregate of the query, as it is here).
CREATE OR REPLACE VIEW user_access_layer.delivery_performance AS
WITH orders AS (
    SELECT order_id, purchase_date_key, order_delivered_customer_date, is_delivered_late, days_to_deliver
    FROM user_access_layer.fact_orders
    -- Live rows only: a row deleted in the source keeps deleted_at and leaves every measure.
    WHERE deleted_at IS NULL
),

dates AS (
    SELECT date_key, year_number, month_number
    FROM user_access_layer.dim_date
),

delivered_orders AS (
    SELECT
        dates.year_number AS purchase_year,
        dates.month_number AS purchase_month,
        CASE WHEN orders.is_delivered_late THEN 1 ELSE 0 END AS is_late,
        orders.days_to_deliver
    FROM orders
    LEFT JOIN dates ON dates.date_key = orders.purchase_date_key
    WHERE orders.order_delivered_customer_date IS NOT NULL
),

final AS (
    SELECT
        purchase_year,
        purchase_month,
        COUNT(*) AS delivered_orders,
        SUM(is_late) AS late_orders,
        {{ v.ratio('SUM(is_late)', 'COUNT(*)', 4) }} AS late_share,
        {{ v.ratio('SUM(days_to_deliver)', 'COUNT(days_to_deliver)', 2) }} AS average_days_to_deliver,
        CAST(
            PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY CAST(days_to_deliver AS NUMERIC(8,2)))
            AS NUMERIC(8,2)
        ) AS median_days_to_deliver
    FROM delivered_orders
    GROUP BY purchase_year, purchase_month
)

SELECT * FROM final;
