-- fact_payments: one row per (order_id, payment_sequential), from the order_payments delta, with
-- the purchase date key of its order (as merged in this run by fact_orders.sql). Stored payments
-- of a restaged order follow a change of its purchase date.
INSERT INTO user_access_layer.fact_payments (
    order_id, payment_sequential, purchase_date_key, payment_type, payment_installments, payment_value, updated_at, deleted_at
)
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

candidates AS (
    SELECT * FROM incoming
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
)

SELECT order_id, payment_sequential, purchase_date_key, payment_type, payment_installments, payment_value, updated_at, deleted_at FROM keyed;
