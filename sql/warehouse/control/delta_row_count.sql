-- Rows currently in one delta table: promote checks it against the run's manifest, so a run is
-- never merged from a delta table that holds another run's rows.
SELECT COUNT(*) AS row_count
FROM staging_layer.{{ table | ident }};
