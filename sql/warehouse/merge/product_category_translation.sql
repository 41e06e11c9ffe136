{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- Category translations (Portuguese -> English), kept as their own table because a translation
-- may arrive in a different run than the products of its category; dim_product reads it next.
{% set columns = ['product_category_name_english', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['product_category_name'] + columns %}
{% call w.write_into('user_access_layer.product_category_translation', 'merge_source_product_category_translation', insert_columns) %}
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
){% if not empty %},

stored AS (
    SELECT product_category_name, product_category_name_english, updated_at, deleted_at
    FROM user_access_layer.product_category_translation
),

changed AS (
    -- New keys, keys whose values differ and deleted keys that came back. The staged row is the
    -- source's current state: it wins whatever its updated_at (a row restored from a backup, or
    -- corrected under a clock set back, is synced too).
    SELECT staged.*
    FROM staged
    LEFT JOIN stored ON stored.product_category_name = staged.product_category_name
    WHERE stored.product_category_name IS NULL
        OR {{ m.any_differs(columns, 'staged', 'stored') }}
){% endif %}


{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM staged
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON product_category_translation.product_category_name = src.product_category_name
WHEN MATCHED THEN UPDATE SET
    product_category_name_english = src.product_category_name_english,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    product_category_name, product_category_name_english, updated_at, deleted_at
) VALUES (
    src.product_category_name, src.product_category_name_english, src.updated_at, src.deleted_at
);
{{ m.drop_merge_source('merge_source_product_category_translation') }}
{% endif %}
