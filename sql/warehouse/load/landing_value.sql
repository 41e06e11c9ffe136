-- Whether a landing table's column holds a value: names the column of a value a cast refused.
WITH landing AS (
    SELECT {{ column | ident }} AS value FROM staging_layer.{{ landing | ident }}
)
SELECT 1 FROM landing WHERE value = :value LIMIT 1;
