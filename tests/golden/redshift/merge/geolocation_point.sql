-- geolocation_point: every source geolocation row by its surrogate geolocation_id, kept so that
-- dim_geolocation can recompute a zip's averages from a partial delta. Runs after
-- dim_geolocation.sql (which needs the points as they were before this run).
CREATE TEMP TABLE merge_source_geolocation_point AS
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
),

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
        OR (
                COALESCE(staged.geolocation_zip_code_prefix <> stored.geolocation_zip_code_prefix, staged.geolocation_zip_code_prefix IS NOT NULL OR stored.geolocation_zip_code_prefix IS NOT NULL) OR
                COALESCE(staged.geolocation_lat <> stored.geolocation_lat, staged.geolocation_lat IS NOT NULL OR stored.geolocation_lat IS NOT NULL) OR
                COALESCE(staged.geolocation_lng <> stored.geolocation_lng, staged.geolocation_lng IS NOT NULL OR stored.geolocation_lng IS NOT NULL) OR
                COALESCE(staged.geolocation_city <> stored.geolocation_city OR OCTET_LENGTH(staged.geolocation_city) <> OCTET_LENGTH(stored.geolocation_city), staged.geolocation_city IS NOT NULL OR stored.geolocation_city IS NOT NULL) OR
                COALESCE(staged.geolocation_state <> stored.geolocation_state, staged.geolocation_state IS NOT NULL OR stored.geolocation_state IS NOT NULL) OR
                COALESCE(staged.updated_at <> stored.updated_at, staged.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL) OR
                COALESCE(staged.deleted_at <> stored.deleted_at, staged.deleted_at IS NOT NULL OR stored.deleted_at IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.geolocation_point
USING merge_source_geolocation_point AS src
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
DROP TABLE merge_source_geolocation_point;

