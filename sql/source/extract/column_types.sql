-- The declared type of each column of one source table: the Arrow extract formats DECIMAL at its
-- scale and DATETIME at its fractional precision, exactly as the server prints them.
WITH source_columns AS (
    SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION
    FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table
)
SELECT
    COLUMN_NAME AS column_name,
    DATA_TYPE AS data_type,
    NUMERIC_PRECISION AS numeric_precision,
    NUMERIC_SCALE AS numeric_scale,
    DATETIME_PRECISION AS datetime_precision
FROM source_columns
