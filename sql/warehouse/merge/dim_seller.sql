{% import 'warehouse/macros.jinja' as m with context %}
-- dim_seller: one row per seller_id (natural key), from the sellers delta.
{% set columns = ['seller_zip_code_prefix', 'seller_city', 'seller_state', 'updated_at'] %}
{% call m.merge_into('user_access_layer.dim_seller', 'merge_source_dim_seller') %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        seller_id,
        seller_zip_code_prefix,
        seller_city,
        seller_state,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY seller_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.sellers
),

staged AS (
    SELECT seller_id, seller_zip_code_prefix, seller_city, seller_state, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

stored AS (
    SELECT seller_id, seller_zip_code_prefix, seller_city, seller_state, updated_at
    FROM user_access_layer.dim_seller
),

changed AS (
    -- New keys, and keys whose values differ, unless the stored version is newer.
    SELECT staged.*
    FROM staged
    LEFT JOIN stored ON stored.seller_id = staged.seller_id
    WHERE stored.seller_id IS NULL
        OR (
            (stored.updated_at IS NULL OR staged.updated_at >= stored.updated_at)
            AND {{ m.any_differs(columns, 'staged', 'stored') }}
        )
)

SELECT * FROM changed
{% endcall %}
ON dim_seller.seller_id = src.seller_id
WHEN MATCHED THEN UPDATE SET
    seller_zip_code_prefix = src.seller_zip_code_prefix,
    seller_city = src.seller_city,
    seller_state = src.seller_state,
    updated_at = src.updated_at
WHEN NOT MATCHED THEN INSERT (
    seller_id, seller_zip_code_prefix, seller_city, seller_state, updated_at
) VALUES (
    src.seller_id, src.seller_zip_code_prefix, src.seller_city, src.seller_state, src.updated_at
);
{{ m.drop_merge_source('merge_source_dim_seller') }}
