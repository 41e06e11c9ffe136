-- customer_account: one row per source customer row (customer_id -> customer_unique_id and the
-- row's location), type 1: a mirror of the source table. The order facts find their person here,
-- then the person's dim_customer version.
CREATE TEMP TABLE merge_source_customer_account AS
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
),

stored AS (
    SELECT
        customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state,
        updated_at, deleted_at
    FROM user_access_layer.customer_account
),

changed AS (
    -- New keys, keys whose values differ and deleted keys that came back. The staged row is the
    -- source's current state: it wins whatever its updated_at (a row restored from a backup, or
    -- corrected under a clock set back, is synced too).
    SELECT staged.*
    FROM staged
    LEFT JOIN stored ON stored.customer_id = staged.customer_id
    WHERE stored.customer_id IS NULL
        OR (
                COALESCE(staged.customer_unique_id <> stored.customer_unique_id, staged.customer_unique_id IS NOT NULL OR stored.customer_unique_id IS NOT NULL) OR
                COALESCE(staged.customer_zip_code_prefix <> stored.customer_zip_code_prefix, staged.customer_zip_code_prefix IS NOT NULL OR stored.customer_zip_code_prefix IS NOT NULL) OR
                COALESCE(staged.customer_city <> stored.customer_city OR OCTET_LENGTH(staged.customer_city) <> OCTET_LENGTH(stored.customer_city), staged.customer_city IS NOT NULL OR stored.customer_city IS NOT NULL) OR
                COALESCE(staged.customer_state <> stored.customer_state, staged.customer_state IS NOT NULL OR stored.customer_state IS NOT NULL) OR
                COALESCE(staged.updated_at <> stored.updated_at, staged.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL) OR
                COALESCE(staged.deleted_at <> stored.deleted_at, staged.deleted_at IS NOT NULL OR stored.deleted_at IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.customer_account
USING merge_source_customer_account AS src
ON customer_account.customer_id = src.customer_id
WHEN MATCHED THEN UPDATE SET
    customer_unique_id = src.customer_unique_id,
    customer_zip_code_prefix = src.customer_zip_code_prefix,
    customer_city = src.customer_city,
    customer_state = src.customer_state,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    customer_id, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, updated_at, deleted_at
) VALUES (
    src.customer_id, src.customer_unique_id, src.customer_zip_code_prefix, src.customer_city, src.customer_state, src.updated_at, src.deleted_at
);
DROP TABLE merge_source_customer_account;

