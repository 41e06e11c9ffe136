{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- dim_customer: SCD type 2 on the location (zip, city, state) of a person, customer_unique_id.
-- Olist writes one customer row per order, so a person's rows, ordered by updated_at, are the
-- history of their address: each change opens a version (macros.jinja: scd2_versions). Also
-- inserts the unknown member once.
{% set tracked = ['customer_zip_code_prefix', 'customer_city', 'customer_state'] %}
{% set all_columns = ['customer_unique_id'] + tracked + ['valid_to', 'is_current', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['customer_key', 'customer_unique_id', 'customer_zip_code_prefix', 'customer_city', 'customer_state', 'valid_from', 'valid_to', 'is_current', 'updated_at', 'deleted_at'] %}
{% call w.write_into('user_access_layer.dim_customer', 'merge_source_dim_customer', insert_columns) %}
WITH staged_rows AS (
    -- The lookback window re-extracts rows already staged: the newest version of each row.
    SELECT
        customer_id,
        customer_unique_id,
        customer_zip_code_prefix,
        customer_city,
        customer_state,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST) AS row_rank
    FROM staging_layer.customers
),

person_rows AS (
    SELECT
        staged_rows.*,
        -- Two rows of one person with the same updated_at cannot both open a version: the
        -- greatest customer_id wins, so the outcome does not depend on the load order.
        ROW_NUMBER() OVER (
            PARTITION BY customer_unique_id, updated_at ORDER BY customer_id DESC
        ) AS tie_rank
    FROM staged_rows
    WHERE row_rank = 1
),

staged AS (
    SELECT customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, updated_at
    FROM person_rows
    WHERE tie_rank = 1
),

{{ m.scd2_versions('dim_customer', 'customer_key', 'customer_unique_id', tracked, staged_is_truth=False) }},

{% if not empty %}
changed AS (
    -- New versions, and stored versions whose bounds or updated_at moved.
    SELECT versions.*
    FROM versions
    LEFT JOIN user_access_layer.dim_customer AS stored ON stored.customer_key = versions.customer_key
    WHERE stored.customer_key IS NULL
        OR {{ m.any_differs(all_columns, 'versions', 'stored') }}
),

{% endif %}
unknown_member AS (
    {{ m.unknown_member('dim_customer', 'customer_key', [
        ('customer_unique_id', 'CHAR(32)'),
        ('customer_zip_code_prefix', 'CHAR(5)'),
        ('customer_city', m.text()),
        ('customer_state', 'CHAR(2)')]) }}
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
ON dim_customer.customer_key = src.customer_key
WHEN MATCHED THEN UPDATE SET
    customer_unique_id = src.customer_unique_id,
    customer_zip_code_prefix = src.customer_zip_code_prefix,
    customer_city = src.customer_city,
    customer_state = src.customer_state,
    valid_from = src.valid_from,
    valid_to = src.valid_to,
    is_current = src.is_current,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    customer_key, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state,
    valid_from, valid_to, is_current, updated_at, deleted_at
) VALUES (
    src.customer_key, src.customer_unique_id, src.customer_zip_code_prefix, src.customer_city,
    src.customer_state, src.valid_from, src.valid_to, src.is_current, src.updated_at, src.deleted_at
);
{{ m.drop_merge_source('merge_source_dim_customer') }}
{% endif %}
