-- Rows of one table changed in (since, high_watermark]; a full extract has no lower bound.
SELECT
{% for column in columns %}
    {{ q(column) }}{{ "," if not loop.last }}
{% endfor %}
FROM {{ q(table) }}
WHERE {{ q("updated_at") }} <= :high_watermark
{% if incremental %}
  AND {{ q("updated_at") }} > :since
{% endif %}
