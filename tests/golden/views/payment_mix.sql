-- Payment mix, for BI tools. Grain: one row per payment type (credit_card, boleto, voucher, ...).
-- payments counts payment rows (an order paid with two vouchers has two); share_of_value is the
-- type's part of all payment value. Payments of canceled and unavailable orders do not count
-- (the revenue rule in _macros.jinja).
CREATE OR REPLACE VIEW user_access_layer.payment_mix AS
WITH payments AS (
    SELECT order_id, payment_type, payment_value
    FROM user_access_layer.fact_payments
    -- Live rows only: a row deleted in the source keeps deleted_at and leaves every measure.
    WHERE deleted_at IS NULL
),

orders AS (
    SELECT order_id, order_status
    FROM user_access_layer.fact_orders
    -- Live rows only: a row deleted in the source keeps deleted_at and leaves every measure.
    WHERE deleted_at IS NULL
),

revenue_payments AS (
    SELECT
        COALESCE(CAST(payments.payment_type AS VARCHAR(256)), 'unknown') AS payment_type,
        payments.payment_value
    FROM payments
    LEFT JOIN orders ON orders.order_id = payments.order_id
    WHERE (orders.order_status IS NULL OR orders.order_status NOT IN ('canceled', 'unavailable'))
),

by_type AS (
    SELECT
        payment_type,
        COUNT(*) AS payments,
        CAST(SUM(payment_value) AS NUMERIC(18,2)) AS payment_value
    FROM revenue_payments
    GROUP BY payment_type
),

final AS (
    SELECT
        payment_type,
        payments,
        payment_value,
        CAST(ROUND(CAST(payment_value AS NUMERIC(18,6)) / NULLIF(SUM(payment_value) OVER (), 0), 4) AS NUMERIC(18,4)) AS share_of_value
    FROM by_type
)

SELECT * FROM final;
