-- Revenue by product category (English name), for BI tools. Grain: one row per category.
-- The category is the product version's current at purchase (fact_order_items.product_key);
-- untranslated categories and items whose product had not arrived yet are 'unknown'.
-- revenue = SUM(price); canceled and unavailable orders do not count (_macros.jinja).
CREATE OR REPLACE VIEW user_access_layer.revenue_by_category AS
WITH order_items AS (
    SELECT order_id, product_key, price, freight_value
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

products AS (
    SELECT product_key, product_category_name_english
    FROM user_access_layer.dim_product
),

revenue_items AS (
    SELECT
        order_items.order_id,
        COALESCE(CAST(products.product_category_name_english AS VARCHAR(256)), 'unknown') AS product_category,
        order_items.price,
        order_items.freight_value
    FROM order_items
    LEFT JOIN orders ON orders.order_id = order_items.order_id
    LEFT JOIN products ON products.product_key = order_items.product_key
    WHERE (orders.order_status IS NULL OR orders.order_status NOT IN ('canceled', 'unavailable'))
),

final AS (
    SELECT
        product_category,
        COUNT(DISTINCT order_id) AS orders,
        COUNT(*) AS items,
        CAST(SUM(price) AS NUMERIC(18,2)) AS revenue,
        CAST(SUM(freight_value) AS NUMERIC(18,2)) AS freight
    FROM revenue_items
    GROUP BY product_category
)

SELECT * FROM final;
