-- Record a run. A promoted run is recorded in the same transaction as its merges: a run listed
-- here as promoted is in the star schema, and one that is not listed so is not. Blocked, failed
-- and cancelled runs are recorded after the fact, in their own transaction (olist_etl/runs.py).
CREATE TEMP TABLE merge_source_runs (
    run_id VARCHAR(64),
    mode VARCHAR(16),
    status VARCHAR(16),
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    rows_promoted BIGINT,
    rows_extracted BIGINT,
    phase_seconds VARCHAR(1024),
    failed_gate VARCHAR(64),
    critical_failures INTEGER,
    quarantine_key VARCHAR(1024),
    error_message VARCHAR(4096)
);
INSERT INTO merge_source_runs (
    run_id, mode, status, started_at, finished_at, rows_promoted, rows_extracted, phase_seconds, failed_gate, critical_failures, quarantine_key, error_message
) VALUES (
    :run_id, :mode, :status, :started_at, :finished_at, :rows_promoted, :rows_extracted, :phase_seconds, :failed_gate, :critical_failures, :quarantine_key, :error_message
);
MERGE INTO etl_control.runs
USING merge_source_runs AS src
ON runs.run_id = src.run_id
WHEN MATCHED THEN UPDATE SET
    mode = src.mode,
    status = src.status,
    started_at = src.started_at,
    finished_at = src.finished_at,
    rows_promoted = src.rows_promoted,
    rows_extracted = src.rows_extracted,
    phase_seconds = src.phase_seconds,
    failed_gate = src.failed_gate,
    critical_failures = src.critical_failures,
    quarantine_key = src.quarantine_key,
    error_message = src.error_message
WHEN NOT MATCHED THEN INSERT (
    run_id, mode, status, started_at, finished_at, rows_promoted,
    rows_extracted, phase_seconds, failed_gate, critical_failures, quarantine_key, error_message
) VALUES (
    src.run_id, src.mode, src.status, src.started_at, src.finished_at, src.rows_promoted,
    src.rows_extracted, src.phase_seconds, src.failed_gate, src.critical_failures, src.quarantine_key, src.error_message
);
DROP TABLE merge_source_runs;

