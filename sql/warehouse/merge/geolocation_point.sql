{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- geolocation_point: every source geolocation row by its surrogate geolocation_id, kept so that
-- dim_geolocation can recompute a zip's averages from a partial delta. Runs after
-- dim_geolocation.sql (which needs the points as they were before this run).
{% set columns = ['geolocation_zip_code_prefix', 'geolocation_lat', 'geolocation_lng', 'geolocation_city', 'geolocation_state', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['geolocation_id'] + columns %}
{% call w.write_into('user_access_layer.geolocation_point', 'merge_source_geolocation_point', insert_columns) %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        geolocation_id,
        geolocation_zip_code_prefix,
        geolocation_lat,
        geolocation_lng,
        geolocation_city,
        geolocation_state,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY geolocation_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.geolocation
),

staged AS (
    SELECT
        geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng,
        geolocation_city, geolocation_state, updated_at, CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged_versions
    WHERE version_rank = 1
){% if not empty %},

stored AS (
    SELECT
        geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng,
        geolocation_city, geolocation_state, updated_at, deleted_at
    FROM user_access_layer.geolocation_point
),

changed AS (
    -- New keys, keys whose values differ and deleted keys that came back. The staged row is the
    -- source's current state: it wins whatever its updated_at (a row restored from a backup, or
    -- corrected under a clock set back, is synced too).
    SELECT staged.*
    FROM staged
    LEFT JOIN stored ON stored.geolocation_id = staged.geolocation_id
    WHERE stored.geolocation_id IS NULL
        OR {{ m.any_differs(columns, 'staged', 'stored') }}
){% endif %}


{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM staged
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON geolocation_point.geolocation_id = src.geolocation_id
WHEN MATCHED THEN UPDATE SET
    geolocation_zip_code_prefix = src.geolocation_zip_code_prefix,
    geolocation_lat = src.geolocation_lat,
    geolocation_lng = src.geolocation_lng,
    geolocation_city = src.geolocation_city,
    geolocation_state = src.geolocation_state,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng,
    geolocation_city, geolocation_state, updated_at, deleted_at
) VALUES (
    src.geolocation_id, src.geolocation_zip_code_prefix, src.geolocation_lat, src.geolocation_lng,
    src.geolocation_city, src.geolocation_state, src.updated_at, src.deleted_at
);
{{ m.drop_merge_source('merge_source_geolocation_point') }}
{% endif %}
