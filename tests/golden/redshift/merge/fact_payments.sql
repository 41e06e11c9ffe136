-- fact_payments: one row per (order_id, payment_sequential), from the order_payments delta, with
-- the purchase date key of its order (as merged in this run by fact_orders.sql). Stored payments
-- of a restaged order follow a change of its purchase date.
CREATE TEMP TABLE merge_source_fact_payments DISTKEY (order_id) AS
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        order_id,
        payment_sequential,
        payment_type,
        payment_installments,
        payment_value,
        updated_at,
        ROW_NUMBER() OVER (
            PARTITION BY order_id, payment_sequential ORDER BY updated_at DESC NULLS LAST
        ) AS version_rank
    FROM staging_layer.order_payments
),

staged AS (
    SELECT order_id, payment_sequential, payment_type, payment_installments, payment_value, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

incoming AS (
    -- Every staged row: it is the source's current state, whatever its updated_at says (a row
    -- restored from a backup or corrected under a clock set back is synced too). A key that was
    -- marked deleted and is staged again comes back (deleted_at NULL).
    SELECT staged.*, CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged
),

restaged_orders AS (
    -- Anti-join (no correlated NOT EXISTS: see fact_orders.sql).
    SELECT payment.order_id, payment.payment_sequential, payment.payment_type, payment.payment_installments, payment.payment_value, payment.updated_at, payment.deleted_at
    FROM user_access_layer.fact_payments AS payment
    LEFT JOIN incoming
        ON incoming.order_id = payment.order_id AND incoming.payment_sequential = payment.payment_sequential
    WHERE payment.order_id IN (SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL)
        AND incoming.order_id IS NULL
),

candidates AS (
    SELECT * FROM incoming
    UNION ALL
    SELECT * FROM restaged_orders
),

keyed AS (
    SELECT
        candidates.order_id,
        candidates.payment_sequential,
        order_fact.purchase_date_key,
        candidates.payment_type,
        candidates.payment_installments,
        candidates.payment_value,
        candidates.updated_at,
        candidates.deleted_at
    FROM candidates
    LEFT JOIN user_access_layer.fact_orders AS order_fact ON order_fact.order_id = candidates.order_id
),

changed AS (
    -- New keys, and keys whose values differ.
    SELECT keyed.*
    FROM keyed
    LEFT JOIN user_access_layer.fact_payments AS stored
        ON stored.order_id = keyed.order_id
        AND stored.payment_sequential = keyed.payment_sequential
    WHERE stored.order_id IS NULL
        OR (
                COALESCE(keyed.purchase_date_key <> stored.purchase_date_key, keyed.purchase_date_key IS NOT NULL OR stored.purchase_date_key IS NOT NULL) OR
                COALESCE(keyed.payment_type <> stored.payment_type OR OCTET_LENGTH(keyed.payment_type) <> OCTET_LENGTH(stored.payment_type), keyed.payment_type IS NOT NULL OR stored.payment_type IS NOT NULL) OR
                COALESCE(keyed.payment_installments <> stored.payment_installments, keyed.payment_installments IS NOT NULL OR stored.payment_installments IS NOT NULL) OR
                COALESCE(keyed.payment_value <> stored.payment_value, keyed.payment_value IS NOT NULL OR stored.payment_value IS NOT NULL) OR
                COALESCE(keyed.updated_at <> stored.updated_at, keyed.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL) OR
                COALESCE(keyed.deleted_at <> stored.deleted_at, keyed.deleted_at IS NOT NULL OR stored.deleted_at IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.fact_payments
USING merge_source_fact_payments AS src
ON fact_payments.order_id = src.order_id
    AND fact_payments.payment_sequential = src.payment_sequential
WHEN MATCHED THEN UPDATE SET
    purchase_date_key = src.purchase_date_key,
    payment_type = src.payment_type,
    payment_installments = src.payment_installments,
    payment_value = src.payment_value,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    order_id, payment_sequential, purchase_date_key, payment_type, payment_installments, payment_value, updated_at, deleted_at
) VALUES (
    src.order_id, src.payment_sequential, src.purchase_date_key, src.payment_type, src.payment_installments, src.payment_value, src.updated_at, src.deleted_at
);
DROP TABLE merge_source_fact_payments;

