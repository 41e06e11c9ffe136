-- dim_customer: SCD type 2 on the location (zip, city, state) of a person, customer_unique_id.
-- Olist writes one customer row per order, so a person's rows, ordered by updated_at, are the
-- history of their address: each change opens a version (macros.jinja: scd2_versions). Also
-- inserts the unknown member once.
INSERT INTO user_access_layer.dim_customer (
    customer_key, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, valid_from, valid_to, is_current, updated_at, deleted_at
)
WITH staged_rows AS (
    -- The lookback window re-extracts rows already staged: the newest version of each row.
    SELECT
        customer_id,
        customer_unique_id,
        customer_zip_code_prefix,
        customer_city,
        customer_state,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST) AS row_rank
    FROM staging_layer.customers
),

person_rows AS (
    SELECT
        staged_rows.*,
        -- Two rows of one person with the same updated_at cannot both open a version: the
        -- greatest customer_id wins, so the outcome does not depend on the load order.
        ROW_NUMBER() OVER (
            PARTITION BY customer_unique_id, updated_at ORDER BY customer_id DESC
        ) AS tie_rank
    FROM staged_rows
    WHERE row_rank = 1
),

staged AS (
    SELECT customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, updated_at
    FROM person_rows
    WHERE tie_rank = 1
),

current_versions AS (
    SELECT customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, valid_from, valid_to, updated_at, deleted_at
    FROM user_access_layer.dim_customer
    WHERE (is_current OR deleted_at IS NOT NULL) AND customer_unique_id IS NOT NULL
),

observations AS (
    SELECT
        customer_unique_id,
        customer_zip_code_prefix,
        customer_city,
        customer_state,
        updated_at,
        valid_from AS stored_valid_from,
        valid_to AS stored_valid_to,
        deleted_at AS stored_deleted_at,
        0 AS source_order
    FROM current_versions
    WHERE customer_unique_id IN (SELECT customer_unique_id FROM staged WHERE customer_unique_id IS NOT NULL)
    UNION ALL
    SELECT
        staged.customer_unique_id,
        staged.customer_zip_code_prefix,
        staged.customer_city,
        staged.customer_state,
        staged.updated_at,
        CAST(NULL AS TIMESTAMP) AS stored_valid_from,
        CAST(NULL AS TIMESTAMP) AS stored_valid_to,
        CAST(NULL AS TIMESTAMP) AS stored_deleted_at,
        1 AS source_order
    FROM staged
    LEFT JOIN current_versions AS stored ON stored.customer_unique_id = staged.customer_unique_id
    WHERE stored.customer_unique_id IS NULL
        OR staged.updated_at > stored.updated_at
        OR stored.deleted_at IS NOT NULL
),

sequenced AS (
    SELECT
        observations.*,
        LAG(customer_zip_code_prefix) OVER (PARTITION BY customer_unique_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_customer_zip_code_prefix,
        LAG(customer_city) OVER (PARTITION BY customer_unique_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_customer_city,
        LAG(customer_state) OVER (PARTITION BY customer_unique_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_customer_state,
        LAG(stored_deleted_at) OVER (PARTITION BY customer_unique_id ORDER BY source_order, updated_at NULLS FIRST) AS previous_deleted_at,
        ROW_NUMBER() OVER (PARTITION BY customer_unique_id ORDER BY source_order, updated_at NULLS FIRST) AS sequence_number
    FROM observations
),

flagged AS (
    SELECT
        sequenced.*,
        CASE
            WHEN sequence_number = 1 THEN 1
            WHEN previous_deleted_at IS NOT NULL THEN 1
            WHEN (
                COALESCE(customer_zip_code_prefix <> previous_customer_zip_code_prefix, customer_zip_code_prefix IS NOT NULL OR previous_customer_zip_code_prefix IS NOT NULL) OR
                COALESCE(customer_city <> previous_customer_city OR OCTET_LENGTH(customer_city) <> OCTET_LENGTH(previous_customer_city), customer_city IS NOT NULL OR previous_customer_city IS NOT NULL) OR
                COALESCE(customer_state <> previous_customer_state, customer_state IS NOT NULL OR previous_customer_state IS NOT NULL)
            ) THEN 1
            ELSE 0
        END AS opens_version
    FROM sequenced
),

islands AS (
    SELECT
        flagged.*,
        SUM(opens_version) OVER (PARTITION BY customer_unique_id ORDER BY sequence_number ROWS UNBOUNDED PRECEDING) AS version_number
    FROM flagged
),

island_rows AS (
    -- The last row of an island (in sequence order) gives the version its updated_at: the
    -- source row's own, even when a staged row set back in time follows the stored version.
    SELECT
        islands.*,
        ROW_NUMBER() OVER (PARTITION BY customer_unique_id, version_number ORDER BY sequence_number DESC) AS from_end
    FROM islands
),

grouped AS (
    -- The rows of an island carry equal tracked values, so MAX returns that value.
    SELECT
        customer_unique_id,
        version_number,
        MAX(customer_zip_code_prefix) AS customer_zip_code_prefix,
        MAX(customer_city) AS customer_city,
        MAX(customer_state) AS customer_state,
        MAX(stored_valid_from) AS stored_valid_from,
        MAX(stored_valid_to) AS stored_valid_to,
        MAX(stored_deleted_at) AS stored_deleted_at,
        MIN(updated_at) AS opened_at,
        MAX(CASE WHEN from_end = 1 THEN updated_at END) AS updated_at
    FROM island_rows
    GROUP BY customer_unique_id, version_number
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
                    ) OVER (PARTITION BY customer_unique_id),
                    opened_at
                )
            )
        END AS valid_from
    FROM grouped
),

versions AS (
    SELECT
        MD5(CAST(customer_unique_id AS VARCHAR(32)) || '|' || TO_CHAR(valid_from, 'YYYY-MM-DD HH24:MI:SS.US')) AS customer_key,
        customer_unique_id,
        customer_zip_code_prefix,
        customer_city,
        customer_state,
        valid_from,
        COALESCE(
            LEAD(valid_from) OVER (PARTITION BY customer_unique_id ORDER BY version_number), CAST('9999-12-31' AS TIMESTAMP)
        ) AS valid_to,
        CASE
            WHEN LEAD(valid_from) OVER (PARTITION BY customer_unique_id ORDER BY version_number) IS NULL THEN TRUE
            ELSE FALSE
        END AS is_current,
        updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM dated
),

unknown_member AS (
    SELECT
        '00000000000000000000000000000000' AS customer_key,
        CAST(NULL AS CHAR(32)) AS customer_unique_id,
        CAST(NULL AS CHAR(5)) AS customer_zip_code_prefix,
        CAST(NULL AS VARCHAR(400)) AS customer_city,
        CAST(NULL AS CHAR(2)) AS customer_state,
        CAST('1900-01-01' AS TIMESTAMP) AS valid_from,
        CAST('9999-12-31' AS TIMESTAMP) AS valid_to,
        TRUE AS is_current,
        CAST(NULL AS TIMESTAMP) AS updated_at,
        CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM (
        SELECT COUNT(*) AS stored_rows FROM user_access_layer.dim_customer WHERE customer_key = '00000000000000000000000000000000'
    ) AS probe
    WHERE probe.stored_rows = 0
)

SELECT customer_key, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, valid_from, valid_to, is_current, updated_at, deleted_at FROM versions
UNION ALL
SELECT customer_key, customer_unique_id, customer_zip_code_prefix, customer_city, customer_state, valid_from, valid_to, is_current, updated_at, deleted_at FROM unknown_member;
