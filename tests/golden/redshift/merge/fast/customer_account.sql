-- customer_account: one row per source customer row (customer_id -> customer_unique_id and the
-- row's location), type 1: a mirror of the source table. The order facts find their person here,
-- then the person's dim_customer version.
INSERT INTO user_access_layer.customer_account (
    customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, updated_at, deleted_at
)
WITH staged_versions AS (
    -- Two staged copies of one key (the lookback overlap, a key re-fetched by the source
    -- comparison): keep the newest (MERGE, on Redshift too, needs one source row per target row).
    SELECT
        customer_id,
        customer_unique_id,
        customer_zip_code_prefix,
        customer_city,
        customer_state,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.customers
),

staged AS (
    SELECT
        customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state,
        updated_at, CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged_versions
    WHERE version_rank = 1
)

SELECT customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, updated_at, deleted_at FROM staged;
