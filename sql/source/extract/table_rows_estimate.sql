-- InnoDB's estimate of a table's rows (no scan): whether the Arrow extract splits it into key ranges.
WITH source_table AS (
    SELECT TABLE_ROWS
    FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table
)
SELECT TABLE_ROWS AS row_estimate
FROM source_table
