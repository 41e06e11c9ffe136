{% import 'warehouse/views/_macros.jinja' as v with context %}
-- Revenue by purchase month, for BI tools. Grain: one row per year and month of purchase.
-- revenue = SUM(price) of the order items (freight apart); canceled and unavailable orders do not
-- count (the revenue rule in _macros.jinja). average_order_value = revenue / orders.
-- A NULL year and month would mean items whose purchase date is unknown: kept, not dropped.
CREATE OR REPLACE VIEW user_access_layer.monthly_revenue AS
WITH order_items AS (
    SELECT order_id, purchase_date_key, price, freight_value
    FROM user_access_layer.fact_order_items
    -- Live rows only: a row deleted in the source keeps deleted_at and leaves every measure.
    WHERE deleted_at IS NULL
),

orders AS (
    SELECT order_id, order_status
    FROM user_access_layer.fact_orders
    -- Live rows only: a row deleted in the source keeps deleted_at and leaves every measure.
    WHERE deleted_at IS NULL
),

dates AS (
    SELECT date_key, year_number, month_number
    FROM user_access_layer.dim_date
),

revenue_items AS (
    SELECT
        order_items.order_id,
        dates.year_number AS purchase_year,
        dates.month_number AS purchase_month,
        order_items.price,
        order_items.freight_value
    FROM order_items
    LEFT JOIN orders ON orders.order_id = order_items.order_id
    LEFT JOIN dates ON dates.date_key = order_items.purchase_date_key
    WHERE {{ v.counts_as_revenue('orders.order_status') }}
),

final AS (
    SELECT
        purchase_year,
        purchase_month,
        {{ v.revenue_measures() }},
        {{ v.ratio('SUM(price)', 'COUNT(DISTINCT order_id)', 2) }} AS average_order_value
    FROM revenue_items
    GROUP BY purchase_year, purchase_month
)

SELECT * FROM final;
