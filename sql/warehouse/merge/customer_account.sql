{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- customer_account: one row per source customer row (customer_id -> customer_unique_id and the
-- row's location), type 1: a mirror of the source table. The order facts find their person here,
-- then the person's dim_customer version.
{% set columns = ['customer_unique_id', 'customer_zip_code_prefix', 'customer_city', 'customer_state', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['customer_id'] + columns %}
{% call w.write_into('user_access_layer.customer_account', 'merge_source_customer_account', insert_columns) %}
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
){% if not empty %},

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
        OR {{ m.any_differs(columns, 'staged', 'stored') }}
){% endif %}


{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM staged
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON customer_account.customer_id = src.customer_id
WHEN MATCHED THEN UPDATE SET
{% for c in columns %}
    {{ c }} = src.{{ c }}{{ ',' if not loop.last }}
{% endfor %}
WHEN NOT MATCHED THEN INSERT (
    customer_id, {{ columns | join(', ') }}
) VALUES (
    src.customer_id, src.{{ columns | join(', src.') }}
);
{{ m.drop_merge_source('merge_source_customer_account') }}
{% endif %}
