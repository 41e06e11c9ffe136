-- Rows of one table changed in (since, high_watermark]; a full extract has no lower bound, and a
-- table without updated_at (has_updated_at false: a full extract only) none at all.
-- With count set, the number of those rows instead: the extract's progress denominator.
SELECT
{% if count %}
    COUNT(*) AS row_count
{% else %}
{% for column in columns %}
{% if column == 'updated_at' and not has_updated_at %}
    -- No change timestamp in the source: the time the extract read the row stands in for it.
    :observed_at AS {{ q(column) }}{{ "," if not loop.last }}
{% else %}
    {{ q(column) }}{{ "," if not loop.last }}
{% endif %}
{% endfor %}
{% endif %}
FROM {{ q(table) }}
{% if has_updated_at %}
WHERE {{ q("updated_at") }} <= :high_watermark
{% endif %}
{% if incremental %}
  AND {{ q("updated_at") }} > :since
{% endif %}
