{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- dim_seller: SCD type 2 on the seller's location (zip, city, state); a move opens a version at
-- the source row's updated_at (macros.jinja: scd2_versions). Also inserts the unknown member once.
{% set tracked = ['seller_zip_code_prefix', 'seller_city', 'seller_state'] %}
{% set all_columns = ['seller_id'] + tracked + ['valid_to', 'is_current', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['seller_key', 'seller_id', 'seller_zip_code_prefix', 'seller_city', 'seller_state', 'valid_from', 'valid_to', 'is_current', 'updated_at', 'deleted_at'] %}
{% call w.write_into('user_access_layer.dim_seller', 'merge_source_dim_seller', insert_columns) %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key.
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

{{ m.scd2_versions('dim_seller', 'seller_key', 'seller_id', tracked) }},

{% if not empty %}
changed AS (
    -- New versions, and stored versions whose bounds or updated_at moved.
    SELECT versions.*
    FROM versions
    LEFT JOIN user_access_layer.dim_seller AS stored ON stored.seller_key = versions.seller_key
    WHERE stored.seller_key IS NULL
        OR {{ m.any_differs(all_columns, 'versions', 'stored') }}
),

{% endif %}
unknown_member AS (
    {{ m.unknown_member('dim_seller', 'seller_key', [
        ('seller_id', 'CHAR(32)'),
        ('seller_zip_code_prefix', 'CHAR(5)'),
        ('seller_city', m.text()),
        ('seller_state', 'CHAR(2)')]) }}
)

{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM versions
UNION ALL
SELECT {{ insert_columns | join(', ') }} FROM unknown_member
{% else %}
SELECT * FROM changed
UNION ALL
SELECT * FROM unknown_member
{% endif %}
{% endcall %}
{% if not empty %}
ON dim_seller.seller_key = src.seller_key
WHEN MATCHED THEN UPDATE SET
    seller_id = src.seller_id,
    seller_zip_code_prefix = src.seller_zip_code_prefix,
    seller_city = src.seller_city,
    seller_state = src.seller_state,
    valid_from = src.valid_from,
    valid_to = src.valid_to,
    is_current = src.is_current,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    seller_key, seller_id, seller_zip_code_prefix, seller_city, seller_state,
    valid_from, valid_to, is_current, updated_at, deleted_at
) VALUES (
    src.seller_key, src.seller_id, src.seller_zip_code_prefix, src.seller_city, src.seller_state,
    src.valid_from, src.valid_to, src.is_current, src.updated_at, src.deleted_at
);
{{ m.drop_merge_source('merge_source_dim_seller') }}
{% endif %}
