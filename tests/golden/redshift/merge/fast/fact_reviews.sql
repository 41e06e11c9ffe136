-- fact_reviews: one row per (review_id, order_id) (a review can cover several orders), from the
-- order_reviews delta, with the date key of the review's creation.
INSERT INTO user_access_layer.fact_reviews (
    review_id, order_id, review_score, review_comment_title, review_comment_message, review_creation_date, review_answer_timestamp, review_creation_date_key, updated_at, deleted_at
)
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        review_id,
        order_id,
        review_score,
        review_comment_title,
        review_comment_message,
        review_creation_date,
        review_answer_timestamp,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY review_id, order_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.order_reviews
),

staged AS (
    SELECT
        review_id, order_id, review_score, review_comment_title, review_comment_message,
        review_creation_date, review_answer_timestamp,
        CAST(TO_CHAR(review_creation_date, 'YYYYMMDD') AS INTEGER) AS review_creation_date_key,
        updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged_versions
    WHERE version_rank = 1
)

SELECT review_id, order_id, review_score, review_comment_title, review_comment_message, review_creation_date, review_answer_timestamp, review_creation_date_key, updated_at, deleted_at FROM staged;
