-- geolocation_point: every source geolocation row by its surrogate geolocation_id, kept so that
-- dim_geolocation can recompute a zip's averages from a partial delta. Runs after
-- dim_geolocation.sql (which needs the points as they were before this run).
INSERT INTO user_access_layer.geolocation_point (
    geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, geolocation_state, updated_at, deleted_at
)
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
)

SELECT geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, geolocation_state, updated_at, deleted_at FROM staged;
