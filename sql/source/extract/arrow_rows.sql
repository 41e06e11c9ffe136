-- One primary-key range of a table's rows changed in (since, high_watermark] (a full read: every
-- row, unbounded, as in changed_rows.sql, so a row updated mid-read is never taken as deleted), for the Arrow
-- extract (olist_etl/arrow_extract.py). Its native reader cannot bind parameters: every value
-- below is a literal the caller rendered from a checked, typed value (a datetime or an int);
-- identifiers come from the catalog. Every column keeps its type and Arrow formats it, except where
-- Arrow's text of a DOUBLE would differ from the server's (the PyMySQL extract stages the server's).
WITH changed AS (
    SELECT
{% for column in columns %}
{% if column == 'updated_at' and not has_updated_at %}
        -- No change timestamp in the source: the time the extract read the row stands in for it.
        {{ observed_at }} AS {{ q(column) }}{{ "," if not loop.last }}
{% elif column in as_text %}
        -- Arrow prints a double as the server does for 1e-4 <= |x| < 1e9 (checked on thousands of
        -- values); outside it (exponents, -0) the server's own text comes along for that row only.
        {{ q(column) }},
        CASE WHEN {{ q(column) }} = 0 OR ABS({{ q(column) }}) < 1e-4 OR ABS({{ q(column) }}) >= 1e9
             THEN CAST({{ q(column) }} AS CHAR) END AS {{ q(column ~ server_text_suffix) }}{{ "," if not loop.last }}
{% else %}
        {{ q(column) }}{{ "," if not loop.last }}
{% endif %}
{% endfor %}
    FROM {{ q(table) }}
    WHERE 1 = 1
{% if since is not none %}
      AND {{ q("updated_at") }} <= {{ high_watermark }}
      AND {{ q("updated_at") }} > {{ since }}
{% endif %}
{% if lower is not none %}
      AND {{ q(key) }} >= {{ lower }}
{% endif %}
{% if upper is not none %}
      AND {{ q(key) }} < {{ upper }}
{% endif %}
)
SELECT * FROM changed
