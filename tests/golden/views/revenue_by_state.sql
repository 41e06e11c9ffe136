-- Revenue by customer state, for BI tools. Grain: one row per state.
-- The state is the customer's as of the purchase: fact_order_items.customer_key points to the
-- dim_customer version current at purchase time, so a customer who moved later does not move
-- their old revenue. 'unknown' collects items whose customer row had not arrived yet.
-- revenue = SUM(price); canceled and unavailable orders do not count (_macros.jinja).
CREATE OR REPLACE VIEW user_access_layer.revenue_by_state AS
WITH order_items AS (
    SELECT order_id, customer_key, price, freight_value
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

customers AS (
    SELECT customer_key, customer_state
    FROM user_access_layer.dim_customer
),

revenue_items AS (
    SELECT
        order_items.order_id,
        COALESCE(CAST(customers.customer_state AS VARCHAR(7)), 'unknown') AS customer_state,
        order_items.price,
        order_items.freight_value
    FROM order_items
    LEFT JOIN orders ON orders.order_id = order_items.order_id
    LEFT JOIN customers ON customers.customer_key = order_items.customer_key
    WHERE (orders.order_status IS NULL OR orders.order_status NOT IN ('canceled', 'unavailable'))
),

final AS (
    SELECT
        customer_state,
        COUNT(DISTINCT order_id) AS orders,
        COUNT(*) AS items,
        CAST(SUM(price) AS NUMERIC(18,2)) AS revenue,
        CAST(SUM(freight_value) AS NUMERIC(18,2)) AS freight,
        CAST(ROUND(CAST(SUM(price) AS NUMERIC(18,6)) / NULLIF(COUNT(DISTINCT order_id), 0), 2) AS NUMERIC(18,2)) AS average_order_value
    FROM revenue_items
    GROUP BY customer_state
)

SELECT * FROM final;
