{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- fact_reviews: one row per (review_id, order_id) (a review can cover several orders), from the
-- order_reviews delta, with the date key of the review's creation.
{% set columns = ['review_score', 'review_comment_title', 'review_comment_message', 'review_creation_date', 'review_answer_timestamp', 'review_creation_date_key', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['review_id', 'order_id'] + columns %}
{% call w.write_into('user_access_layer.fact_reviews', 'merge_source_fact_reviews', insert_columns, distkey='order_id') %}
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
        {{ m.date_key('review_creation_date') }} AS review_creation_date_key,
        updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged_versions
    WHERE version_rank = 1
){% if not empty %},

stored AS (
    SELECT
        review_id, order_id, review_score, review_comment_title, review_comment_message,
        review_creation_date, review_answer_timestamp, review_creation_date_key, updated_at, deleted_at
    FROM user_access_layer.fact_reviews
),

changed AS (
    -- New keys, keys whose values differ and deleted keys that came back. The staged row is the
    -- source's current state: it wins whatever its updated_at (a row restored from a backup, or
    -- corrected under a clock set back, is synced too).
    SELECT staged.*
    FROM staged
    LEFT JOIN stored
        ON stored.review_id = staged.review_id
        AND stored.order_id = staged.order_id
    WHERE stored.review_id IS NULL
        OR {{ m.any_differs(columns, 'staged', 'stored') }}
){% endif %}


{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM staged
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON fact_reviews.review_id = src.review_id
    AND fact_reviews.order_id = src.order_id
WHEN MATCHED THEN UPDATE SET
    review_score = src.review_score,
    review_comment_title = src.review_comment_title,
    review_comment_message = src.review_comment_message,
    review_creation_date = src.review_creation_date,
    review_answer_timestamp = src.review_answer_timestamp,
    review_creation_date_key = src.review_creation_date_key,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    review_id, order_id, review_score, review_comment_title, review_comment_message,
    review_creation_date, review_answer_timestamp, review_creation_date_key, updated_at, deleted_at
) VALUES (
    src.review_id, src.order_id, src.review_score, src.review_comment_title, src.review_comment_message,
    src.review_creation_date, src.review_answer_timestamp, src.review_creation_date_key, src.updated_at,
    src.deleted_at
);
{{ m.drop_merge_source('merge_source_fact_reviews') }}
{% endif %}
