{% import 'warehouse/macros.jinja' as m with context %}
-- The star-schema tables that hold no row yet (a dimension's unknown member aside), read once
-- when the promote starts, inside its transaction: each merge step whose stored state is all
-- empty writes with a plain INSERT (merge/write.jinja). One row per table, stored_rows 0 or 1;
-- LIMIT 1 stops each probe at its first row.
WITH
{% for table, key in targets %}
{{ table }}_probe AS (
    SELECT 1 AS found
    FROM user_access_layer.{{ table | ident }}
{% if key %}
    WHERE {{ key }} <> {{ m.unknown_key() }}
{% endif %}
    LIMIT 1
){{ ',' if not loop.last }}

{% endfor %}
{% for table, key in targets %}
SELECT '{{ table }}' AS table_name, COUNT(*) AS stored_rows FROM {{ table }}_probe
{% if not loop.last %}
UNION ALL
{% endif %}
{% endfor %}
;
