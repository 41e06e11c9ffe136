{% import 'warehouse/macros.jinja' as m with context %}
-- Marks the rows of user_access_layer.{{ target }} whose key is gone from the source table
-- {{ source }}: deleted_at is set to the run's time (:deleted_at). A type-2 dimension's current
-- version is also closed (valid_to, is_current FALSE). Runs before the merges, so a key staged in
-- this run is never marked (the anti-join on the delta), and a marked key that is staged in a later
-- run comes back through the merge. Which stored keys are candidates depends on the run:
--   all             a full sync staged every source row: every stored key missing from the delta
--   listed          an incremental or diff sync: the keys the source comparison found gone,
--                   in staging_layer.deleted_{{ source }}
--   purchase_range  a backfill: the stored rows of the orders purchased in the range
-- Anti-joins, not NOT EXISTS / NOT IN: one plan shape on PostgreSQL and Redshift.
{% set key_columns = keys %}
UPDATE user_access_layer.{{ target | ident }}
SET
    deleted_at = :deleted_at
{% if natural_key %}
    , valid_to = GREATEST(valid_from, :deleted_at)
    , is_current = FALSE
{% endif %}
FROM (
    SELECT {% for k in key_columns %}stored.{{ k | ident }}{{ ', ' if not loop.last }}{% endfor %}

    FROM user_access_layer.{{ target | ident }} AS stored
{% if scope == 'listed' %}
    INNER JOIN staging_layer.{{ ('deleted_' ~ source) | ident }} AS listed
        ON {% for k in key_columns %}listed.{{ k | ident }} = stored.{{ k | ident }}{{ ' AND ' if not loop.last }}{% endfor %}

{% elif scope == 'purchase_range' %}
    INNER JOIN (
        SELECT order_id FROM user_access_layer.fact_orders
        WHERE order_purchase_timestamp >= :purchased_from AND order_purchase_timestamp < :purchased_before
        UNION
        SELECT order_id FROM staging_layer.orders WHERE order_id IS NOT NULL
    ) AS ranged ON ranged.order_id = stored.order_id
{% endif %}
    LEFT JOIN staging_layer.{{ source | ident }} AS staged
        ON {% for k in key_columns %}staged.{{ k | ident }} = stored.{{ k | ident }}{{ ' AND ' if not loop.last }}{% endfor %}

    WHERE stored.deleted_at IS NULL
        AND staged.{{ key_columns[0] | ident }} IS NULL
{% if natural_key %}
        AND stored.is_current
        AND stored.{{ natural_key | ident }} IS NOT NULL
{% endif %}
) AS gone
WHERE {% for k in key_columns %}{{ target | ident }}.{{ k | ident }} = gone.{{ k | ident }}{{ ' AND ' if not loop.last }}{% endfor %}

{% if natural_key %}
    AND {{ target | ident }}.is_current
{% endif %}
;
