{% import 'warehouse/macros.jinja' as m with context %}
-- Record a promoted run, in the same transaction as its merges: a run listed here as promoted
-- is in the star schema, and one that is not listed is not.
{{ m.merge_params_into('etl_control.runs', 'merge_source_runs', [
    ('run_id', 'VARCHAR(64)'),
    ('mode', 'VARCHAR(16)'),
    ('status', 'VARCHAR(16)'),
    ('started_at', 'TIMESTAMP'),
    ('finished_at', 'TIMESTAMP'),
    ('rows_promoted', 'BIGINT'),
]) | trim }}
ON runs.run_id = src.run_id
WHEN MATCHED THEN UPDATE SET
    mode = src.mode,
    status = src.status,
    started_at = src.started_at,
    finished_at = src.finished_at,
    rows_promoted = src.rows_promoted
WHEN NOT MATCHED THEN INSERT (
    run_id, mode, status, started_at, finished_at, rows_promoted
) VALUES (
    src.run_id, src.mode, src.status, src.started_at, src.finished_at, src.rows_promoted
);
{{ m.drop_merge_source('merge_source_runs') }}
