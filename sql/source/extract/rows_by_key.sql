-- Rows of one table by primary key: the rows the source comparison found missing from the
-- warehouse or different there. `key_count` keys are bound as k<i>_<j> (key i, column j).
-- With a window, rows inside it are left out: the window's own read stages them, and a key
-- staged twice in one run would break the delta's uniqueness.
SELECT
{% for column in columns %}
{% if column == 'updated_at' and not has_updated_at %}
    -- No change timestamp in the source: the time the extract read the row stands in for it.
    :observed_at AS {{ q(column) }}{{ "," if not loop.last }}
{% else %}
    {{ q(column) }}{{ "," if not loop.last }}
{% endif %}
{% endfor %}
FROM {{ q(table) }}
WHERE ({% for k in keys %}{{ q(k) }}{{ ", " if not loop.last }}{% endfor %}) IN (
{% for i in range(key_count) %}
    ({% for j in range(keys | length) %}:k{{ i }}_{{ j }}{{ ", " if not loop.last }}{% endfor %}){{ "," if not loop.last }}
{% endfor %}
)
{% if window %}
  AND NOT ({{ q("updated_at") }} <= :high_watermark{% if incremental %} AND {{ q("updated_at") }} > :since{% endif %})
{% endif %}
