-- dim_product: one row per product_id with the English category name ('unknown' when the
-- product has no category or the category no translation). Runs after
-- product_category_translation.sql, so a translation staged in this run is already there.
CREATE TEMP TABLE merge_source_dim_product AS
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
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
    SELECT
        product_id, product_category_name, product_name_length, product_description_length,
        product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm,
        updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

retranslated AS (
    -- Products merged in earlier runs whose category got a translation in this run: they must
    -- pick up the English name although the product itself did not change.
    SELECT
        product_id, product_category_name, product_name_length, product_description_length,
        product_photos_qty, product_weight_g, product_length_cm, product_height_cm, product_width_cm,
        updated_at
    FROM user_access_layer.dim_product
    WHERE product_category_name IN (
        SELECT product_category_name FROM staging_layer.product_category_name_translation
    )
    AND product_id NOT IN (SELECT product_id FROM staged WHERE product_id IS NOT NULL)
),

candidates AS (
    SELECT * FROM staged
    UNION ALL
    SELECT * FROM retranslated
),

translated AS (
    SELECT
        candidates.product_id,
        candidates.product_category_name,
        COALESCE(translation.product_category_name_english, 'unknown') AS product_category_name_english,
        candidates.product_name_length,
        candidates.product_description_length,
        candidates.product_photos_qty,
        candidates.product_weight_g,
        candidates.product_length_cm,
        candidates.product_height_cm,
        candidates.product_width_cm,
        candidates.updated_at
    FROM candidates
    LEFT JOIN user_access_layer.product_category_translation AS translation
        ON translation.product_category_name = candidates.product_category_name
),

stored AS (
    SELECT
        product_id, product_category_name, product_category_name_english, product_name_length,
        product_description_length, product_photos_qty, product_weight_g, product_length_cm,
        product_height_cm, product_width_cm, updated_at
    FROM user_access_layer.dim_product
),

changed AS (
    -- New keys, and keys whose values differ, unless the stored version is newer.
    SELECT translated.*
    FROM translated
    LEFT JOIN stored ON stored.product_id = translated.product_id
    WHERE stored.product_id IS NULL
        OR (
            (stored.updated_at IS NULL OR translated.updated_at >= stored.updated_at)
            AND (
                COALESCE(translated.product_category_name <> stored.product_category_name, translated.product_category_name IS NOT NULL OR stored.product_category_name IS NOT NULL) OR
                COALESCE(translated.product_category_name_english <> stored.product_category_name_english, translated.product_category_name_english IS NOT NULL OR stored.product_category_name_english IS NOT NULL) OR
                COALESCE(translated.product_name_length <> stored.product_name_length, translated.product_name_length IS NOT NULL OR stored.product_name_length IS NOT NULL) OR
                COALESCE(translated.product_description_length <> stored.product_description_length, translated.product_description_length IS NOT NULL OR stored.product_description_length IS NOT NULL) OR
                COALESCE(translated.product_photos_qty <> stored.product_photos_qty, translated.product_photos_qty IS NOT NULL OR stored.product_photos_qty IS NOT NULL) OR
                COALESCE(translated.product_weight_g <> stored.product_weight_g, translated.product_weight_g IS NOT NULL OR stored.product_weight_g IS NOT NULL) OR
                COALESCE(translated.product_length_cm <> stored.product_length_cm, translated.product_length_cm IS NOT NULL OR stored.product_length_cm IS NOT NULL) OR
                COALESCE(translated.product_height_cm <> stored.product_height_cm, translated.product_height_cm IS NOT NULL OR stored.product_height_cm IS NOT NULL) OR
                COALESCE(translated.product_width_cm <> stored.product_width_cm, translated.product_width_cm IS NOT NULL OR stored.product_width_cm IS NOT NULL) OR
                COALESCE(translated.updated_at <> stored.updated_at, translated.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL)
            )
        )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.dim_product
USING merge_source_dim_product AS src
ON dim_product.product_id = src.product_id
WHEN MATCHED THEN UPDATE SET
    product_category_name = src.product_category_name,
    product_category_name_english = src.product_category_name_english,
    product_name_length = src.product_name_length,
    product_description_length = src.product_description_length,
    product_photos_qty = src.product_photos_qty,
    product_weight_g = src.product_weight_g,
    product_length_cm = src.product_length_cm,
    product_height_cm = src.product_height_cm,
    product_width_cm = src.product_width_cm,
    updated_at = src.updated_at
WHEN NOT MATCHED THEN INSERT (
    product_id, product_category_name, product_category_name_english, product_name_length,
    product_description_length, product_photos_qty, product_weight_g, product_length_cm,
    product_height_cm, product_width_cm, updated_at
) VALUES (
    src.product_id, src.product_category_name, src.product_category_name_english, src.product_name_length,
    src.product_description_length, src.product_photos_qty, src.product_weight_g, src.product_length_cm,
    src.product_height_cm, src.product_width_cm, src.updated_at
);
DROP TABLE merge_source_dim_product;

