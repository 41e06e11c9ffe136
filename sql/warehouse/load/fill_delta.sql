{% import 'warehouse/macros.jinja' as m with context %}
-- Fill a delta table from its landing table after gate 1 passed, inside the load's transaction.
-- Numbers and timestamps are cast explicitly (a value gate 1 let through that does not cast fails
-- the load, naming it); text is assigned, so a value longer than its column fails too instead of
-- being cut.
INSERT INTO staging_layer.{{ table | ident }} ({% for column in columns %}{{ column.name | ident }}{{ ', ' if not loop.last }}{% endfor %})
WITH landing AS (
    SELECT * FROM staging_layer.{{ landing | ident }}
)
SELECT
{% for column in columns %}
{% if column.kind in casts %}
    CAST({{ column.name | ident }} AS {{ m.column_type(column) }}){{ ',' if not loop.last }}
{% else %}
    {{ column.name | ident }}{{ ',' if not loop.last }}
{% endif %}
{% endfor %}
FROM landing;
