{% import 'warehouse/macros.jinja' as m with context %}
{% import 'warehouse/merge/write.jinja' as w with context %}
-- fact_payments: one row per (order_id, payment_sequential), from the order_payments delta, with
-- the purchase date key of its order (as merged in this run by fact_orders.sql). Stored payments
-- of a restaged order follow a change of its purchase date.
{% set columns = ['purchase_date_key', 'payment_type', 'payment_installments', 'payment_value', 'updated_at', 'deleted_at'] %}
{% set payment_columns = ['order_id', 'payment_sequential', 'payment_type', 'payment_installments', 'payment_value', 'updated_at'] %}
{% set insert_columns = ['order_id', 'payment_sequential'] + columns %}
{% call w.write_into('user_access_layer.fact_payments', 'merge_source_fact_payments', insert_columns, distkey='order_id') %}
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        {{ payment_columns | join(',\n        ') }},
        ROW_NUMBER() OVER (
            PARTITION BY order_id, payment_sequential ORDER BY updated_at DESC NULLS LAST
        ) AS version_rank
    FROM staging_layer.order_payments
),

staged AS (
    SELECT {{ payment_columns | join(', ') }}
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

{% if not empty %}
restaged_orders AS (
    -- Anti-join (no correlated NOT EXISTS: see fact_orders.sql).
    SELECT payment.{{ payment_columns | join(', payment.') }}, payment.deleted_at
    FROM user_access_layer.fact_payments AS payment
    LEFT JOIN incoming
        ON incoming.order_id = payment.order_id AND incoming.payment_sequential = payment.payment_sequential
    WHERE payment.order_id IN (SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL)
        AND incoming.order_id IS NULL
),

{% endif %}
candidates AS (
    SELECT * FROM incoming
{% if not empty %}
    UNION ALL
    SELECT * FROM restaged_orders
{% endif %}
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
){% if not empty %},

changed AS (
    -- New keys, and keys whose values differ.
    SELECT keyed.*
    FROM keyed
    LEFT JOIN user_access_layer.fact_payments AS stored
        ON stored.order_id = keyed.order_id
        AND stored.payment_sequential = keyed.payment_sequential
    WHERE stored.order_id IS NULL
        OR {{ m.any_differs(columns, 'keyed', 'stored') }}
){% endif %}


{% if empty %}
SELECT {{ insert_columns | join(', ') }} FROM keyed
{% else %}
SELECT * FROM changed
{% endif %}
{% endcall %}
{% if not empty %}
ON fact_payments.order_id = src.order_id
    AND fact_payments.payment_sequential = src.payment_sequential
WHEN MATCHED THEN UPDATE SET
{% for c in columns %}
    {{ c }} = src.{{ c }}{{ ',' if not loop.last }}
{% endfor %}
WHEN NOT MATCHED THEN INSERT (
    order_id, payment_sequential, {{ columns | join(', ') }}
) VALUES (
    src.order_id, src.payment_sequential, src.{{ columns | join(', src.') }}
);
{{ m.drop_merge_source('merge_source_fact_payments') }}
{% endif %}
