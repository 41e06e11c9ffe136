-- Category translations (Portuguese -> English), kept as their own table because a translation
-- may arrive in a different run than the products of its category; dim_product reads it next.
INSERT INTO user_access_layer.product_category_translation (
    product_category_name, product_category_name_english, updated_at, deleted_at
)
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        product_category_name,
        product_category_name_english,
        updated_at,
        ROW_NUMBER() OVER (
            PARTITION BY product_category_name ORDER BY updated_at DESC NULLS LAST
        ) AS version_rank
    FROM staging_layer.product_category_name_translation
),

staged AS (
    SELECT product_category_name, product_category_name_english, updated_at, CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged_versions
    WHERE version_rank = 1
)

SELECT product_category_name, product_category_name_english, updated_at, deleted_at FROM staged;
