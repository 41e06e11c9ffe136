-- fact_payments: one row per (order_id, payment_sequential), from the order_payments delta.
CREATE TEMP TABLE merge_source_fact_payments AS
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

stored AS (
    SELECT order_id, payment_sequential, payment_type, payment_installments, payment_value, updated_at
    FROM user_access_layer.fact_payments
),

changed AS (
    -- New keys, and keys whose values differ, unless the stored version is newer.
    SELECT staged.*
    FROM staged
    LEFT JOIN stored
        ON stored.order_id = staged.order_id
        AND stored.payment_sequential = staged.payment_sequential
    WHERE stored.order_id IS NULL
        OR (
            (stored.updated_at IS NULL OR staged.updated_at >= stored.updated_at)
            AND (
                COALESCE(staged.payment_type <> stored.payment_type, staged.payment_type IS NOT NULL OR stored.payment_type IS NOT NULL) OR
                COALESCE(staged.payment_installments <> stored.payment_installments, staged.payment_installments IS NOT NULL OR stored.payment_installments IS NOT NULL) OR
                COALESCE(staged.payment_value <> stored.payment_value, staged.payment_value IS NOT NULL OR stored.payment_value IS NOT NULL) OR
                COALESCE(staged.updated_at <> stored.updated_at, staged.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL)
            )
        )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.fact_payments
USING merge_source_fact_payments AS src
ON fact_payments.order_id = src.order_id
    AND fact_payments.payment_sequential = src.payment_sequential
WHEN MATCHED THEN UPDATE SET
    payment_type = src.payment_type,
    payment_installments = src.payment_installments,
    payment_value = src.payment_value,
    updated_at = src.updated_at
WHEN NOT MATCHED THEN INSERT (
    order_id, payment_sequential, payment_type, payment_installments, payment_value, updated_at
) VALUES (
    src.order_id, src.payment_sequential, src.payment_type, src.payment_installments, src.payment_value,
    src.updated_at
);
DROP TABLE merge_source_fact_payments;

