-- The latest runs, newest first (`olist-etl runs`).
SELECT run_id, mode, status, started_at, finished_at, rows_promoted, rows_extracted,
       phase_seconds, failed_gate, critical_failures, quarantine_key, error_message
FROM etl_control.runs
ORDER BY started_at DESC, run_id DESC
LIMIT :limit;
