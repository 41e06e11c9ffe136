-- The run a landing table holds (recorded by its landing load, record_load.sql): a delta table is
-- filled only from its own run's landing rows, never from another sync's that landed in between.
SELECT run_id
FROM etl_control.loads
WHERE table_name = :table_name;
