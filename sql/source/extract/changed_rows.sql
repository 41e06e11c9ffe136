-- Rows of one table changed in (since, high_watermark]; a full extract has no lower bound.
-- With count set, the number of those rows instead: the extract's progress denominator.
SELECT
{% if count %}
    COUNT(*) AS row_count
{% else %}
{% for column in columns %}
    {{ q(column) }}{{ "," if not loop.last }}
{% endfor %}
{% endif %}
FROM {{ q(table) }}
WHERE {{ q("updated_at") }} <= :high_watermark
{% if incremental %}
  AND {{ q("updated_at") }} > :since
{% endif %}
