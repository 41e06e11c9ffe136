-- dim_geolocation: one row per zip prefix, averaging all source geolocation rows of the zip.
-- Runs BEFORE geolocation_point.sql: the stored points still carry the zip a changed row had
-- before, so both its old and its new zip are recomputed. A delta holds only some rows of a zip,
-- so the average is taken over the stored points with the staged versions substituted. Points
-- marked deleted in this run (deleted_at = :deleted_at, done before the merges) leave their zip's
-- average; a zip left without live points is marked deleted by mark_deleted_derived.sql. Only
-- the zips of staged and marked points are recomputed; the marked ones are looked for only when
-- this run marked points (`marked`, olist_etl/merge.py), so a run without deletes skips that scan.
INSERT INTO user_access_layer.dim_geolocation (
    geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, geolocation_state, point_count, updated_at, deleted_at
)
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

points AS (
    -- Nothing is stored (dim_geolocation and geolocation_point empty): every zip is the staged rows'.
    SELECT
        geolocation_id, geolocation_zip_code_prefix, geolocation_lat, geolocation_lng,
        geolocation_city, geolocation_state, updated_at
    FROM effective
    WHERE geolocation_zip_code_prefix IS NOT NULL
),

aggregated AS (
    -- A row without a zip cannot be keyed: it stays in geolocation_point only.
    SELECT
        geolocation_zip_code_prefix,
        CAST(AVG(geolocation_lat) AS NUMERIC(9,6)) AS geolocation_lat,
        CAST(AVG(geolocation_lng) AS NUMERIC(9,6)) AS geolocation_lng,
        -- The least city and state in byte order on both databases (macros.jinja: min_text).
        MIN(geolocation_city) AS geolocation_city,
        MIN(geolocation_state) AS geolocation_state,
        CAST(COUNT(*) AS INTEGER) AS point_count,
        MAX(updated_at) AS updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM points
    GROUP BY geolocation_zip_code_prefix
)

SELECT geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, geolocation_state, point_count, updated_at, deleted_at FROM aggregated;
