{% import 'warehouse/views/_macros.jinja' as v with context %}
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
        {{ v.label('payments.payment_type', 256) }} AS payment_type,
        payments.payment_value
    FROM payments
    LEFT JOIN orders ON orders.order_id = payments.order_id
    WHERE {{ v.counts_as_revenue('orders.order_status') }}
),

by_type AS (
    SELECT
        payment_type,
        COUNT(*) AS payments,
        {{ v.money('SUM(payment_value)') }} AS payment_value
    FROM revenue_payments
    GROUP BY payment_type
),

final AS (
    SELECT
        payment_type,
        payments,
        payment_value,
        {{ v.ratio('payment_value', 'SUM(payment_value) OVER ()', 4) }} AS share_of_value
    FROM by_type
)

SELECT * FROM final;
