-- customer_account: one row per source customer row (customer_id -> customer_unique_id), type 1.
-- The order facts find their person here, then the person's dim_customer version.
CREATE TEMP TABLE merge_source_customer_account AS
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        customer_id,
        customer_unique_id,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.customers
),

staged AS (
    SELECT customer_id, customer_unique_id, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

stored AS (
    SELECT customer_id, customer_unique_id, updated_at
    FROM user_access_layer.customer_account
),

changed AS (
    -- New keys, and keys whose values differ, unless the stored version is newer: re-running a
    -- batch, or promoting an older one late, changes nothing.
    SELECT staged.*
    FROM staged
    LEFT JOIN stored ON stored.customer_id = staged.customer_id
    WHERE stored.customer_id IS NULL
        OR (
            (stored.updated_at IS NULL OR staged.updated_at >= stored.updated_at)
            AND (
                COALESCE(staged.customer_unique_id <> stored.customer_unique_id, staged.customer_unique_id IS NOT NULL OR stored.customer_unique_id IS NOT NULL) OR
                COALESCE(staged.updated_at <> stored.updated_at, staged.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL)
            )
        )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.customer_account
USING merge_source_customer_account AS src
ON customer_account.customer_id = src.customer_id
WHEN MATCHED THEN UPDATE SET
    customer_unique_id = src.customer_unique_id,
    updated_at = src.updated_at
WHEN NOT MATCHED THEN INSERT (
    customer_id, customer_unique_id, updated_at
) VALUES (
    src.customer_id, src.customer_unique_id, src.updated_at
);
DROP TABLE merge_source_customer_account;

