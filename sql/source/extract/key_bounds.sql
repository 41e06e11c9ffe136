-- The smallest and largest value of an integer key column: the span the Arrow extract splits
-- into key ranges (two index dives, no scan).
WITH source_keys AS (
    SELECT {{ q(key) }} AS key_value
    FROM {{ q(table) }}
)
SELECT MIN(key_value) AS low, MAX(key_value) AS high
FROM source_keys
