-- dim_product: SCD type 2 on the product's attributes (category, name and description lengths,
-- photos, weight, dimensions); a change opens a version at the source row's updated_at
-- (macros.jinja: scd2_versions). The English category name ('unknown' when the product has no
-- category or the category no translation) is looked up, not tracked: a translation that arrives
-- or changes corrects every version of its category in place, so facts keep their keys. Runs
-- after product_category_translation.sql, so a translation staged in this run is already there.
-- Also inserts the unknown member once.
INSERT INTO user_access_layer.dim_product (
    product_key, product_id, product_category_name, product_name_length, product_description_length, product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm, product_category_name_english, valid_from, valid_to, is_current, updated_at, deleted_at
)
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key.
    SELECT
        product_id,
        product_category_name,
        product_name_length,
        product_description_length,
        product_photos_qty,
        product_weight_g,
        product_length_cm,
        product_height_cm,
        product_width_cm,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.products
),

staged AS (
    SELECT product_id, product_category_name, product_name_length, product_description_length, product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

current_versions AS (
    SELECT product_id, product_category_name, product_name_length, product_description_length, product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm, valid_from, valid_to, updated_at, deleted_at
    FROM user_access_layer.dim_product
    WHERE (is_current OR deleted_at IS NOT NULL) AND product_id IS NOT NULL
),

observations AS (
    SELECT
        product_id,
        product_category_name,
        product_name_length,
        product_description_length,
        product_photos_qty,
        product_weight_g,
        product_length_cm,
        product_height_cm,
        product_width_cm,
        updated_at,
        valid_from AS stored_valid_from,
        valid_to AS stored_valid_to,
        deleted_at AS stored_deleted_at,
        0 AS source_order
    FROM current_versions
    WHERE product_id IN (SELECT product_id FROM staged WHERE product_id IS NOT NULL)
    UNION ALL
    SELECT
        staged.product_id,
        staged.product_category_name,
        staged.product_name_length,
        staged.product_description_length,
        staged.product_photos_qty,
        staged.product_weight_g,
        staged.product_length_cm,
        staged.product_height_cm,
        staged.product_width_cm,
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
        LAG(product_category_name) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_category_name,
        LAG(product_name_length) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_name_length,
        LAG(product_description_length) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_description_length,
        LAG(product_photos_qty) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_photos_qty,
        LAG(product_weight_g) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_weight_g,
        LAG(product_length_cm) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_length_cm,
        LAG(product_height_cm) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_height_cm,
        LAG(product_width_cm) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_product_width_cm,
        LAG(stored_deleted_at) OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_deleted_at,
        ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY source_order, updated_at NULLS FIRST) AS sequence_number
    FROM observations
),

flagged AS (
    SELECT
        sequenced.*,
        CASE
            WHEN sequence_number = 1 THEN 1
            WHEN previous_deleted_at IS NOT NULL THEN 1
            WHEN (
                COALESCE(product_category_name <> previous_product_category_name OR OCTET_LENGTH(product_category_name) <> OCTET_LENGTH(previous_product_category_name), product_category_name IS NOT NULL OR previous_product_category_name IS NOT NULL) OR
                COALESCE(product_name_length <> previous_product_name_length, product_name_length IS NOT NULL OR previous_product_name_length IS NOT NULL) OR
                COALESCE(product_description_length <> previous_product_description_length, product_description_length IS NOT NULL OR previous_product_description_length IS NOT NULL) OR
                COALESCE(product_photos_qty <> previous_product_photos_qty, product_photos_qty IS NOT NULL OR previous_product_photos_qty IS NOT NULL) OR
                COALESCE(product_weight_g <> previous_product_weight_g, product_weight_g IS NOT NULL OR previous_product_weight_g IS NOT NULL) OR
                COALESCE(product_length_cm <> previous_product_length_cm, product_length_cm IS NOT NULL OR previous_product_length_cm IS NOT NULL) OR
                COALESCE(product_height_cm <> previous_product_height_cm, product_height_cm IS NOT NULL OR previous_product_height_cm IS NOT NULL) OR
                COALESCE(product_width_cm <> previous_product_width_cm, product_width_cm IS NOT NULL OR previous_product_width_cm IS NOT NULL)
            ) THEN 1
            ELSE 0
        END AS opens_version
    FROM sequenced
),

islands AS (
    SELECT
        flagged.*,
        SUM(opens_version) OVER (PARTITION BY product_id ORDER BY sequence_number ROWS UNBOUNDED PRECEDING) AS version_number
    FROM flagged
),

island_rows AS (
    -- The last row of an island (in sequence order) gives the version its updated_at: the
    -- source row's own, even when a staged row set back in time follows the stored version.
    SELECT
        islands.*,
        ROW_NUMBER() OVER (PARTITION BY product_id, version_number ORDER BY sequence_number DESC) AS from_end
    FROM islands
),

grouped AS (
    -- The rows of an island carry equal tracked values, so MAX returns that value.
    SELECT
        product_id,
        version_number,
        MAX(product_category_name) AS product_category_name,
        MAX(product_name_length) AS product_name_length,
        MAX(product_description_length) AS product_description_length,
        MAX(product_photos_qty) AS product_photos_qty,
        MAX(product_weight_g) AS product_weight_g,
        MAX(product_length_cm) AS product_length_cm,
        MAX(product_height_cm) AS product_height_cm,
        MAX(product_width_cm) AS product_width_cm,
        MAX(stored_valid_from) AS stored_valid_from,
        MAX(stored_valid_to) AS stored_valid_to,
        MAX(stored_deleted_at) AS stored_deleted_at,
        MIN(updated_at) AS opened_at,
        MAX(CASE WHEN from_end = 1 THEN updated_at END) AS updated_at
    FROM island_rows
    GROUP BY product_id, version_number
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
                    ) OVER (PARTITION BY product_id),
                    opened_at
                )
            )
        END AS valid_from
    FROM grouped
),

versions AS (
    SELECT
        MD5(CAST(product_id AS VARCHAR(32)) || '|' || TO_CHAR(valid_from, 'YYYY-MM-DD HH24:MI:SS.US')) AS product_key,
        product_id,
        product_category_name,
        product_name_length,
        product_description_length,
        product_photos_qty,
        product_weight_g,
        product_length_cm,
        product_height_cm,
        product_width_cm,
        valid_from,
        COALESCE(
            LEAD(valid_from) OVER (PARTITION BY product_id ORDER BY version_number), CAST('9999-12-31' AS TIMESTAMP)
        ) AS valid_to,
        CASE
            WHEN LEAD(valid_from) OVER (PARTITION BY product_id ORDER BY version_number) IS NULL THEN TRUE
            ELSE FALSE
        END AS is_current,
        updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM dated
),

candidates AS (
    SELECT * FROM versions
),

translated AS (
    SELECT
        candidates.product_key,
        candidates.product_id,
        candidates.product_category_name,
        candidates.product_name_length,
        candidates.product_description_length,
        candidates.product_photos_qty,
        candidates.product_weight_g,
        candidates.product_length_cm,
        candidates.product_height_cm,
        candidates.product_width_cm,
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

unknown_member AS (
    SELECT
        '00000000000000000000000000000000' AS product_key,
        CAST(NULL AS CHAR(32)) AS product_id,
        CAST(NULL AS VARCHAR(400)) AS product_category_name,
        CAST(NULL AS INTEGER) AS product_name_length,
        CAST(NULL AS INTEGER) AS product_description_length,
        CAST(NULL AS INTEGER) AS product_photos_qty,
        CAST(NULL AS INTEGER) AS product_weight_g,
        CAST(NULL AS INTEGER) AS product_length_cm,
        CAST(NULL AS INTEGER) AS product_height_cm,
        CAST(NULL AS INTEGER) AS product_width_cm,
        CAST('unknown' AS VARCHAR(400)) AS product_category_name_english,
        CAST('1900-01-01' AS TIMESTAMP) AS valid_from,
        CAST('9999-12-31' AS TIMESTAMP) AS valid_to,
        TRUE AS is_current,
        CAST(NULL AS TIMESTAMP) AS updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM (
        SELECT COUNT(*) AS stored_rows FROM user_access_layer.dim_product WHERE product_key = '00000000000000000000000000000000'
    ) AS probe
    WHERE probe.stored_rows = 0
)

SELECT product_key, product_id, product_category_name, product_name_length, product_description_length, product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm, product_category_name_english, valid_from, valid_to, is_current, updated_at, deleted_at FROM translated
UNION ALL
SELECT product_key, product_id, product_category_name, product_name_length, product_description_length, product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm, product_category_name_english, valid_from, valid_to, is_current, updated_at, deleted_at FROM unknown_member;
