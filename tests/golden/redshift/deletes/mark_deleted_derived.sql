-- Rows derived from several source rows are gone when the last of them is: a person
-- (dim_customer) whose customer rows were all marked deleted, and a zip (dim_geolocation) whose
-- points all were. Only what this run marked (deleted_at = :deleted_at) is looked at, so the
-- statements stay cheap on every run. Runs after the merges: a row staged in this run is live.
-- `marked` names the tables in which this run marked rows (olist_etl/merge.py): a statement
-- whose table has none is left out, sparing a run without deletes two scans of every point.

-- The current version of a person with no live customer row is closed.
UPDATE user_access_layer.dim_customer
SET
    deleted_at = :deleted_at,
    valid_to = GREATEST(valid_from, :deleted_at),
    is_current = FALSE
FROM (
    SELECT marked.customer_unique_id
    FROM (
        SELECT DISTINCT customer_unique_id
        FROM user_access_layer.customer_account
        WHERE deleted_at = :deleted_at AND customer_unique_id IS NOT NULL
    ) AS marked
    LEFT JOIN (
        SELECT DISTINCT customer_unique_id
        FROM user_access_layer.customer_account
        WHERE deleted_at IS NULL AND customer_unique_id IS NOT NULL
    ) AS live ON live.customer_unique_id = marked.customer_unique_id
    WHERE live.customer_unique_id IS NULL
) AS gone
WHERE dim_customer.customer_unique_id = gone.customer_unique_id
    AND dim_customer.is_current
    AND dim_customer.deleted_at IS NULL;

-- A zip with no live point.
UPDATE user_access_layer.dim_geolocation
SET deleted_at = :deleted_at
FROM (
    SELECT marked.geolocation_zip_code_prefix
    FROM (
        SELECT DISTINCT geolocation_zip_code_prefix
        FROM user_access_layer.geolocation_point
        WHERE deleted_at = :deleted_at AND geolocation_zip_code_prefix IS NOT NULL
    ) AS marked
    LEFT JOIN (
        SELECT DISTINCT geolocation_zip_code_prefix
        FROM user_access_layer.geolocation_point
        WHERE deleted_at IS NULL AND geolocation_zip_code_prefix IS NOT NULL
    ) AS live ON live.geolocation_zip_code_prefix = marked.geolocation_zip_code_prefix
    WHERE live.geolocation_zip_code_prefix IS NULL
) AS gone
WHERE dim_geolocation.geolocation_zip_code_prefix = gone.geolocation_zip_code_prefix
    AND dim_geolocation.deleted_at IS NULL;
