-- A backfill's slice of one table: the orders purchased from the first date (inclusive) up to
-- purchased_before, the day after the inclusive end date (exclusive, so the whole last day is in),
-- and the rows that hang off those orders: their items, payments, reviews and customers, and the
-- products and sellers of their items. Dates bound as 'YYYY-MM-DD' compare correctly with MySQL
-- DATETIME and with SQLite's 'YYYY-MM-DD HH:MM:SS' text alike. (No colon-prefixed names in these
-- comments: SQLAlchemy would read them as parameters.)
-- With count set, the number of those rows instead: the extract's progress denominator.
{% macro purchased(alias) -%}
{{ alias }}.{{ q("order_purchase_timestamp") }} >= :purchased_from
      AND {{ alias }}.{{ q("order_purchase_timestamp") }} < :purchased_before
{%- endmacro %}
SELECT
{% if count %}
    COUNT(*) AS row_count
{% else %}
{% for column in columns %}
    t.{{ q(column) }}{{ "," if not loop.last }}
{% endfor %}
{% endif %}
FROM {{ q(table) }} AS t
{% if table == "orders" %}
WHERE {{ purchased("t") }}
{% elif table in ("order_items", "order_payments", "order_reviews") %}
WHERE t.{{ q("order_id") }} IN (
    SELECT o.{{ q("order_id") }}
    FROM {{ q("orders") }} AS o
    WHERE {{ purchased("o") }}
)
{% elif table == "customers" %}
WHERE t.{{ q("customer_id") }} IN (
    SELECT o.{{ q("customer_id") }}
    FROM {{ q("orders") }} AS o
    WHERE {{ purchased("o") }}
)
{% elif table in ("products", "sellers") %}
{% set key = "product_id" if table == "products" else "seller_id" %}
WHERE t.{{ q(key) }} IN (
    SELECT i.{{ q(key) }}
    FROM {{ q("order_items") }} AS i
    INNER JOIN {{ q("orders") }} AS o ON o.{{ q("order_id") }} = i.{{ q("order_id") }}
    WHERE {{ purchased("o") }}
)
{% else %}
{# Never an unbounded SELECT: a table without a slice rule is an error, not a full extract. #}
{{ no_backfill_slice_for_this_table }}
{% endif %}
