-- Any promoted run: an incremental compares the source with the warehouse only when one exists.
SELECT run_id
FROM etl_control.runs
WHERE status = 'promoted'
LIMIT 1;
