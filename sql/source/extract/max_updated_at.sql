-- The upper bound of one extract: rows changed after it wait for the next run.
SELECT MAX({{ q("updated_at") }}) AS high_watermark
FROM {{ q(table) }}
