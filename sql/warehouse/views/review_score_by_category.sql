{% import 'warehouse/views/_macros.jinja' as v with context %}
-- Review score by product category (English name), for BI tools. Grain: one row per category.
-- A review rates a whole order, so it counts once for every distinct category in that order
-- (an order of two categories adds its score to both). Reviews of orders without items have no
-- category and are left out. Canceled orders' reviews count: they are still customer feedback.
CREATE OR REPLACE VIEW user_access_layer.review_score_by_category AS
WITH reviews AS (
    SELECT review_id, order_id, review_score
    FROM user_access_layer.fact_reviews
    -- Live rows only: a row deleted in the source keeps deleted_at and leaves every measure.
    WHERE deleted_at IS NULL
),

order_items AS (
    SELECT order_id, product_key
    FROM user_access_layer.fact_order_items
    -- Live rows only: a row deleted in the source keeps deleted_at and leaves every measure.
    WHERE deleted_at IS NULL
),

products AS (
    SELECT product_key, product_category_name_english
    FROM user_access_layer.dim_product
),

order_categories AS (
    SELECT DISTINCT
        order_items.order_id,
        {{ v.label('products.product_category_name_english', 256) }} AS product_category
    FROM order_items
    LEFT JOIN products ON products.product_key = order_items.product_key
),

final AS (
    SELECT
        order_categories.product_category,
        COUNT(*) AS reviews,
        {{ v.ratio('SUM(reviews.review_score)', 'COUNT(reviews.review_score)', 2) }} AS average_review_score
    FROM reviews
    INNER JOIN order_categories ON order_categories.order_id = reviews.order_id
    GROUP BY order_categories.product_category
)

SELECT * FROM final;
