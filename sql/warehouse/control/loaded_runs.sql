-- The run each delta table holds (record_load.sql): promote checks it against its manifest.
SELECT table_name, run_id
FROM etl_control.loads;
