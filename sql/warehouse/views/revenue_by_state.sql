{% import 'warehouse/views/_macros.jinja' as v with context %}
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
        {{ v.label('customers.customer_state', 7) }} AS customer_state,
        order_items.price,
        order_items.freight_value
    FROM order_items
    LEFT JOIN orders ON orders.order_id = order_items.order_id
    LEFT JOIN customers ON customers.customer_key = order_items.customer_key
    WHERE {{ v.counts_as_revenue('orders.order_status') }}
),

final AS (
    SELECT
        customer_state,
        {{ v.revenue_measures() }},
        {{ v.ratio('SUM(price)', 'COUNT(DISTINCT order_id)', 2) }} AS average_order_value
    FROM revenue_items
    GROUP BY customer_state
)

SELECT * FROM final;
