-- The latest promoted sync: the report says how fresh its numbers are.
SELECT run_id, mode, finished_at
FROM etl_control.runs
WHERE status = 'promoted'
ORDER BY finished_at DESC
LIMIT 1;
