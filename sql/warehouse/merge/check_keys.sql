{% import 'warehouse/macros.jinja' as m with context %}
-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose {{ scope_column or 'key' }} is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
{% if scope_table %}
touched AS (
    SELECT DISTINCT {{ scope_column }} AS scope_value
    FROM staging_layer.{{ scope_table | ident }}
    WHERE {{ scope_column }} IS NOT NULL
),

{% endif %}
scoped AS (
    SELECT {% for k in keys %}stored.{{ k }}{{ ', ' if not loop.last }}{% endfor %}

    FROM user_access_layer.{{ target | ident }} AS stored
{% if scope_table %}
    INNER JOIN touched ON touched.scope_value = stored.{{ target_column }}
{% endif %}
{% if current_only %}
    WHERE stored.is_current
{% endif %}
{% if unknown_member %}
    UNION ALL
    SELECT {% for k in keys %}stored.{{ k }}{{ ', ' if not loop.last }}{% endfor %}

    FROM user_access_layer.{{ target | ident }} AS stored
    WHERE stored.{{ keys[0] }} = {{ m.unknown_key() }}
{% endif %}
),

duplicated AS (
    SELECT {{ keys | join(', ') }}, COUNT(*) AS copies
    FROM scoped
    GROUP BY {{ keys | join(', ') }}
    HAVING COUNT(*) > 1
)

SELECT {{ keys | join(', ') }}, copies
FROM duplicated
ORDER BY {{ keys | join(', ') }}
LIMIT 5;
