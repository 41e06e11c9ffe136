-- Rows of one table changed in (since, high_watermark]. A full extract reads every row, with no
-- bound at all: its deletes are the stored keys missing from the delta, so a row updated after
-- high_watermark was read must still be staged, or it would be marked deleted (the watermark stays
-- high_watermark; the next incremental re-reads such rows, which the merge dedupes).
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
{% if incremental %}
WHERE {{ q("updated_at") }} <= :high_watermark
  AND {{ q("updated_at") }} > :since
{% endif %}
