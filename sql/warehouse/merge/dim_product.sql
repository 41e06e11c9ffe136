{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- dim_product: SCD type 2 on the product's attributes (category, name and description lengths,
-- photos, weight, dimensions); a change opens a version at the source row's updated_at
-- (macros.jinja: scd2_versions). The English category name ('unknown' when the product has no
-- category or the category no translation) is looked up, not tracked: a translation that arrives
-- or changes corrects every version of its category in place, so facts keep their keys. Runs
-- after product_category_translation.sql, so a translation staged in this run is already there.
-- Also inserts the unknown member once.
{% set tracked = [
    'product_category_name', 'product_name_length', 'product_description_length', 'product_photos_qty',
    'product_weight_g', 'product_length_cm', 'product_height_cm', 'product_width_cm'] %}
{% set all_columns = ['product_id'] + tracked + ['product_category_name_english', 'valid_to', 'is_current', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['product_key', 'product_id'] + tracked + ['product_category_name_english', 'valid_from', 'valid_to', 'is_current', 'updated_at', 'deleted_at'] %}
{% call w.write_into('user_access_layer.dim_product', 'merge_source_dim_product', insert_columns) %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key.
    SELECT
        product_id,
{% for c in tracked %}
        {{ c }},
{% endfor %}
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.products
),

staged AS (
    SELECT product_id, {{ tracked | join(', ') }}, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

{{ m.scd2_versions('dim_product', 'product_key', 'product_id', tracked) }},

{% if not empty %}
retranslated AS (
    -- Versions of other products whose category got a translation in this run, or lost it (the
    -- translation was marked deleted in this run, before the merges).
    -- Anti-join (no correlated NOT EXISTS: see fact_orders.sql).
    SELECT
        stored.product_key, stored.product_id, stored.{{ tracked | join(', stored.') }},
        stored.valid_from, stored.valid_to, stored.is_current, stored.updated_at, stored.deleted_at
    FROM user_access_layer.dim_product AS stored
    LEFT JOIN versions ON versions.product_key = stored.product_key
    WHERE stored.product_category_name IN (
        SELECT product_category_name FROM staging_layer.product_category_name_translation
        UNION
        SELECT product_category_name FROM user_access_layer.product_category_translation
        WHERE deleted_at = :deleted_at
    )
    AND versions.product_key IS NULL
),

{% endif %}
candidates AS (
    SELECT * FROM versions
{% if not empty %}
    UNION ALL
    SELECT * FROM retranslated
{% endif %}
),

translated AS (
    SELECT
        candidates.product_key,
        candidates.product_id,
{% for c in tracked %}
        candidates.{{ c }},
{% endfor %}
        COALESCE(translation.product_category_name_english, 'unknown') AS product_category_name_english,
        candidates.valid_from,
        candidates.valid_to,
        candidates.is_current,
        candidates.updated_at,
        candidates.deleted_at
    FROM candidates
    LEFT JOIN user_access_layer.product_category_translation AS translation
        ON translation.product_category_name = candidates.product_category_name
        AND translation.deleted_at IS NULL
),

{% if not empty %}
changed AS (
    -- New versions, and stored versions whose bounds, updated_at or English name moved.
    SELECT translated.*
    FROM translated
    LEFT JOIN user_access_layer.dim_product AS stored ON stored.product_key = translated.product_key
    WHERE stored.product_key IS NULL
        OR {{ m.any_differs(all_columns, 'translated', 'stored') }}
),

{% endif %}
unknown_member AS (
    {{ m.unknown_member('dim_product', 'product_key', [
        ('product_id', 'CHAR(32)'),
        ('product_category_name', m.text()),
        ('product_name_length', 'INTEGER'),
        ('product_description_length', 'INTEGER'),
        ('product_photos_qty', 'INTEGER'),
        ('product_weight_g', 'INTEGER'),
        ('product_length_cm', 'INTEGER'),
        ('product_height_cm', 'INTEGER'),
        ('product_width_cm', 'INTEGER'),
        ('product_category_name_english', m.text())],
        {'product_category_name_english': 'unknown'}) }}
)

{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM translated
UNION ALL
SELECT {{ insert_columns | join(', ') }} FROM unknown_member
{% else %}
SELECT * FROM changed
UNION ALL
SELECT * FROM unknown_member
{% endif %}
{% endcall %}
{% if not empty %}
ON dim_product.product_key = src.product_key
WHEN MATCHED THEN UPDATE SET
    product_id = src.product_id,
{% for c in tracked %}
    {{ c }} = src.{{ c }},
{% endfor %}
    product_category_name_english = src.product_category_name_english,
    valid_from = src.valid_from,
    valid_to = src.valid_to,
    is_current = src.is_current,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    product_key, product_id, {{ tracked | join(', ') }},
    product_category_name_english, valid_from, valid_to, is_current, updated_at, deleted_at
) VALUES (
    src.product_key, src.product_id, src.{{ tracked | join(', src.') }},
    src.product_category_name_english, src.valid_from, src.valid_to, src.is_current, src.updated_at, src.deleted_at
);
{{ m.drop_merge_source('merge_source_dim_product') }}
{% endif %}
