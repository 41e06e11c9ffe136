-- dim_geolocation: one row per zip prefix, averaging all source geolocation rows of the zip.
-- Runs BEFORE geolocation_point.sql: the stored points still carry the zip a changed row had
-- before, so both its old and its new zip are recomputed. A delta holds only some rows of a zip,
-- so the average is taken over the stored points with the staged versions substituted. Points
-- marked deleted in this run (deleted_at = :deleted_at, done before the merges) leave their zip's
-- average; a zip left without live points is marked deleted by mark_deleted_derived.sql. Only
-- the zips of staged and marked points are recomputed; the marked ones are looked for only when
-- this run marked points (`marked`, olist_etl/merge.py), so a run without deletes skips that scan.
CREATE TEMP TABLE merge_source_dim_geolocation AS
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

touched_zips AS (
    SELECT geolocation_zip_code_prefix FROM effective
    UNION
    SELECT point.geolocation_zip_code_prefix
    FROM user_access_layer.geolocation_point AS point
    INNER JOIN effective ON effective.geolocation_id = point.geolocation_id
    UNION
    SELECT point.geolocation_zip_code_prefix
    FROM user_access_layer.geolocation_point AS point
    WHERE point.deleted_at = :deleted_at
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
    WHERE geolocation_zip_code_prefix IN (SELECT geolocation_zip_code_prefix FROM touched_zips)
    GROUP BY geolocation_zip_code_prefix
),

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
        OR (
                COALESCE(aggregated.geolocation_lat <> stored.geolocation_lat, aggregated.geolocation_lat IS NOT NULL OR stored.geolocation_lat IS NOT NULL) OR
                COALESCE(aggregated.geolocation_lng <> stored.geolocation_lng, aggregated.geolocation_lng IS NOT NULL OR stored.geolocation_lng IS NOT NULL) OR
                COALESCE(aggregated.geolocation_city <> stored.geolocation_city OR OCTET_LENGTH(aggregated.geolocation_city) <> OCTET_LENGTH(stored.geolocation_city), aggregated.geolocation_city IS NOT NULL OR stored.geolocation_city IS NOT NULL) OR
                COALESCE(aggregated.geolocation_state <> stored.geolocation_state, aggregated.geolocation_state IS NOT NULL OR stored.geolocation_state IS NOT NULL) OR
                COALESCE(aggregated.point_count <> stored.point_count, aggregated.point_count IS NOT NULL OR stored.point_count IS NOT NULL) OR
                COALESCE(aggregated.updated_at <> stored.updated_at, aggregated.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL) OR
                COALESCE(aggregated.deleted_at <> stored.deleted_at, aggregated.deleted_at IS NOT NULL OR stored.deleted_at IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.dim_geolocation
USING merge_source_dim_geolocation AS src
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
DROP TABLE merge_source_dim_geolocation;

