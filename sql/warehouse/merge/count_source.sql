-- The rows a Redshift MERGE will write: its source table holds only new and changed rows, each
-- matching at most one target row, so its count is the rows inserted or updated. Counted before
-- the MERGE, since the driver reports no row count for MERGE.
SELECT COUNT(*) AS source_rows
FROM {{ source_table }};
