{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- dim_geolocation: one row per zip prefix, averaging all source geolocation rows of the zip.
-- Runs BEFORE geolocation_point.sql: the stored points still carry the zip a changed row had
-- before, so both its old and its new zip are recomputed. A delta holds only some rows of a zip,
-- so the average is taken over the stored points with the staged versions substituted. Points
-- marked deleted in this run (deleted_at = :deleted_at, done before the merges) leave their zip's
-- average; a zip left without live points is marked deleted by mark_deleted_derived.sql. Only
-- the zips of staged and marked points are recomputed; the marked ones are looked for only when
-- this run marked points (`marked`, olist_etl/merge.py), so a run without deletes skips that scan.
{% set columns = ['geolocation_lat', 'geolocation_lng', 'geolocation_city', 'geolocation_state', 'point_count', 'updated_at', 'deleted_at'] %}
{% set insert_columns = ['geolocation_zip_code_prefix'] + columns %}
{% call w.write_into('user_access_layer.dim_geolocation', 'merge_source_dim_geolocation', insert_columns) %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each row.
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
        geolocation_city, geolocation_state, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

effective AS (
    -- Every staged row: geolocation_point.sql takes each of them, whatever its updated_at.
    SELECT staged.*
    FROM staged
),
{% if empty %}

points AS (
    -- Nothing is stored (dim_geolocation and geolocation_point empty): every zip is the staged rows'.
    SELECT
        geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng,
        geolocation_city, geolocation_state, updated_at
    FROM effective
    WHERE geolocation_zip_code_prefix IS NOT NULL
),
{% else %}

touched_zips AS (
    SELECT geolocation_zip_code_prefix FROM effective
    UNION
    SELECT point.geolocation_zip_code_prefix
    FROM user_access_layer.geolocation_point AS point
    INNER JOIN effective ON effective.geolocation_id = point.geolocation_id
{% if 'geolocation_point' in marked %}
    UNION
    SELECT point.geolocation_zip_code_prefix
    FROM user_access_layer.geolocation_point AS point
    WHERE point.deleted_at = :deleted_at
{% endif %}
),

points AS (
    SELECT
        geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng,
        geolocation_city, geolocation_state, updated_at
    FROM effective
    UNION ALL
    SELECT
        point.geolocation_id, point.geolocation_zip_code_prefix, point.geolocation_lat, point.geolocation_lng,
        point.geolocation_city, point.geolocation_state, point.updated_at
    FROM user_access_layer.geolocation_point AS point
    -- A LEFT JOIN anti-join: not NOT IN (PostgreSQL plans it as a per-row rescan once the list
    -- outgrows work_mem, quadratic on a full re-sync at scale 10), not a correlated NOT EXISTS
    -- (unsupported by Redshift over a window-function CTE, see fact_orders.sql).
    LEFT JOIN effective ON effective.geolocation_id = point.geolocation_id
    WHERE point.geolocation_zip_code_prefix IN (SELECT geolocation_zip_code_prefix FROM touched_zips)
        AND point.deleted_at IS NULL
        AND effective.geolocation_id IS NULL
),
{% endif %}

aggregated AS (
    -- A row without a zip cannot be keyed: it stays in geolocation_point only.
    SELECT
        geolocation_zip_code_prefix,
        CAST(AVG(geolocation_lat) AS NUMERIC(9,6)) AS geolocation_lat,
        CAST(AVG(geolocation_lng) AS NUMERIC(9,6)) AS geolocation_lng,
        -- The least city and state in byte order on both databases (macros.jinja: min_text).
        {{ m.min_text('geolocation_city') }} AS geolocation_city,
        {{ m.min_text('geolocation_state') }} AS geolocation_state,
        CAST(COUNT(*) AS INTEGER) AS point_count,
        MAX(updated_at) AS updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM points
{% if not empty %}
    WHERE geolocation_zip_code_prefix IN (SELECT geolocation_zip_code_prefix FROM touched_zips)
{% endif %}
    GROUP BY geolocation_zip_code_prefix
){% if not empty %},

stored AS (
    SELECT
        geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city,
        geolocation_state, point_count, updated_at, deleted_at
    FROM user_access_layer.dim_geolocation
),

changed AS (
    -- An aggregate has no "newer version": it replaces the stored row whenever it differs.
    SELECT aggregated.*
    FROM aggregated
    LEFT JOIN stored ON stored.geolocation_zip_code_prefix = aggregated.geolocation_zip_code_prefix
    WHERE stored.geolocation_zip_code_prefix IS NULL
        OR {{ m.any_differs(columns, 'aggregated', 'stored') }}
){% endif %}


{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM aggregated
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON dim_geolocation.geolocation_zip_code_prefix = src.geolocation_zip_code_prefix
WHEN MATCHED THEN UPDATE SET
    geolocation_lat = src.geolocation_lat,
    geolocation_lng = src.geolocation_lng,
    geolocation_city = src.geolocation_city,
    geolocation_state = src.geolocation_state,
    point_count = src.point_count,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city,
    geolocation_state, point_count, updated_at, deleted_at
) VALUES (
    src.geolocation_zip_code_prefix, src.geolocation_lat, src.geolocation_lng, src.geolocation_city,
    src.geolocation_state, src.point_count, src.updated_at, src.deleted_at
);
{{ m.drop_merge_source('merge_source_dim_geolocation') }}
{% endif %}
