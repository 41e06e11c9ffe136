-- dim_seller: SCD type 2 on the seller's location (zip, city, state); a move opens a version at
-- the source row's updated_at (macros.jinja: scd2_versions). Also inserts the unknown member once.
INSERT INTO user_access_layer.dim_seller (
    seller_key, seller_id, seller_zip_code_prefix, seller_city, seller_state, valid_from, valid_to, is_current, updated_at, deleted_at
)
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

current_versions AS (
    SELECT seller_id, seller_zip_code_prefix, seller_city, seller_state, valid_from, valid_to, updated_at, deleted_at
    FROM user_access_layer.dim_seller
    WHERE (is_current OR deleted_at IS NOT NULL) AND seller_id IS NOT NULL
),

observations AS (
    SELECT
        seller_id,
        seller_zip_code_prefix,
        seller_city,
        seller_state,
        updated_at,
        valid_from AS stored_valid_from,
        valid_to AS stored_valid_to,
        deleted_at AS stored_deleted_at,
        0 AS source_order
    FROM current_versions
    WHERE seller_id IN (SELECT seller_id FROM staged WHERE seller_id IS NOT NULL)
    UNION ALL
    SELECT
        staged.seller_id,
        staged.seller_zip_code_prefix,
        staged.seller_city,
        staged.seller_state,
        staged.updated_at,
        CAST(NULL AS TIMESTAMP) AS stored_valid_from,
        CAST(NULL AS TIMESTAMP) AS stored_valid_to,
        CAST(NULL AS TIMESTAMP) AS stored_deleted_at,
        1 AS source_order
    FROM staged
),

sequenced AS (
    SELECT
        observations.*,
        LAG(seller_zip_code_prefix) OVER (PARTITION BY seller_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_seller_zip_code_prefix,
        LAG(seller_city) OVER (PARTITION BY seller_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_seller_city,
        LAG(seller_state) OVER (PARTITION BY seller_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_seller_state,
        LAG(stored_deleted_at) OVER (PARTITION BY seller_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_deleted_at,
        ROW_NUMBER() OVER (PARTITION BY seller_id ORDER BY source_order, updated_at NULLS FIRST) AS sequence_number
    FROM observations
),

flagged AS (
    SELECT
        sequenced.*,
        CASE
            WHEN sequence_number = 1 THEN 1
            WHEN previous_deleted_at IS NOT NULL THEN 1
            WHEN (
                COALESCE(seller_zip_code_prefix <> previous_seller_zip_code_prefix, seller_zip_code_prefix IS NOT NULL OR previous_seller_zip_code_prefix IS NOT NULL) OR
                COALESCE(seller_city <> previous_seller_city OR OCTET_LENGTH(seller_city) <> OCTET_LENGTH(previous_seller_city), seller_city IS NOT NULL OR previous_seller_city IS NOT NULL) OR
                COALESCE(seller_state <> previous_seller_state, seller_state IS NOT NULL OR previous_seller_state IS NOT NULL)
            ) THEN 1
            ELSE 0
        END AS opens_version
    FROM sequenced
),

islands AS (
    SELECT
        flagged.*,
        SUM(opens_version) OVER (PARTITION BY seller_id ORDER BY sequence_number ROWS UNBOUNDED PRECEDING) AS version_number
    FROM flagged
),

island_rows AS (
    -- The last row of an island (in sequence order) gives the version its updated_at: the
    -- source row's own, even when a staged row set back in time follows the stored version.
    SELECT
        islands.*,
        ROW_NUMBER() OVER (PARTITION BY seller_id, version_number ORDER BY sequence_number DESC) AS from_end
    FROM islands
),

grouped AS (
    -- The rows of an island carry equal tracked values, so MAX returns that value.
    SELECT
        seller_id,
        version_number,
        MAX(seller_zip_code_prefix) AS seller_zip_code_prefix,
        MAX(seller_city) AS seller_city,
        MAX(seller_state) AS seller_state,
        MAX(stored_valid_from) AS stored_valid_from,
        MAX(stored_valid_to) AS stored_valid_to,
        MAX(stored_deleted_at) AS stored_deleted_at,
        MIN(updated_at) AS opened_at,
        MAX(CASE WHEN from_end = 1 THEN updated_at END) AS updated_at
    FROM island_rows
    GROUP BY seller_id, version_number
),

dated AS (
    SELECT
        grouped.*,
        CASE
            WHEN stored_valid_from IS NOT NULL THEN stored_valid_from
            WHEN version_number = 1 THEN CAST('1900-01-01' AS TIMESTAMP)
            ELSE GREATEST(
                opened_at,
                COALESCE(
                    MAX(
                        CASE
                            WHEN stored_deleted_at IS NOT NULL THEN stored_valid_to
                            ELSE DATEADD(microsecond, 1, stored_valid_from)
                        END
                    ) OVER (PARTITION BY seller_id),
                    opened_at
                )
            )
        END AS valid_from
    FROM grouped
),

versions AS (
    SELECT
        MD5(CAST(seller_id AS VARCHAR(32)) || '|' || TO_CHAR(valid_from, 'YYYY-MM-DD HH24:MI:SS.US')) AS seller_key,
        seller_id,
        seller_zip_code_prefix,
        seller_city,
        seller_state,
        valid_from,
        COALESCE(
            LEAD(valid_from) OVER (PARTITION BY seller_id ORDER BY version_number), CAST('9999-12-31' AS TIMESTAMP)
        ) AS valid_to,
        CASE
            WHEN LEAD(valid_from) OVER (PARTITION BY seller_id ORDER BY version_number) IS NULL THEN TRUE
            ELSE FALSE
        END AS is_current,
        updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM dated
),

unknown_member AS (
    SELECT
        '00000000000000000000000000000000' AS seller_key,
        CAST(NULL AS CHAR(32)) AS seller_id,
        CAST(NULL AS CHAR(5)) AS seller_zip_code_prefix,
        CAST(NULL AS VARCHAR(400)) AS seller_city,
        CAST(NULL AS CHAR(2)) AS seller_state,
        CAST('1900-01-01' AS TIMESTAMP) AS valid_from,
        CAST('9999-12-31' AS TIMESTAMP) AS valid_to,
        TRUE AS is_current,
        CAST(NULL AS TIMESTAMP) AS updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM (
        SELECT COUNT(*) AS stored_rows FROM user_access_layer.dim_seller WHERE seller_key = '00000000000000000000000000000000'
    ) AS probe
    WHERE probe.stored_rows = 0
)

SELECT seller_key, seller_id, seller_zip_code_prefix, seller_city, seller_state, valid_from, valid_to, is_current, updated_at, deleted_at FROM versions
UNION ALL
SELECT seller_key, seller_id, seller_zip_code_prefix, seller_city, seller_state, valid_from, valid_to, is_current, updated_at, deleted_at FROM unknown_member;
