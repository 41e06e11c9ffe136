{% import 'warehouse/macros.jinja' as m with context %}
-- Record the high watermark of one source table for a promoted run. Executed once per table
-- with a non-null watermark, in the same transaction as the merges, so a watermark never moves
-- unless the rows below it reached the star schema.
{{ m.merge_params_into('etl_control.watermarks', 'merge_source_watermarks', [
    ('table_name', 'VARCHAR(64)'),
    ('high_watermark', 'TIMESTAMP'),
    ('run_id', 'VARCHAR(64)'),
    ('promoted_at', 'TIMESTAMP'),
]) | trim }}
ON watermarks.table_name = src.table_name
WHEN MATCHED THEN UPDATE SET
    -- Never move backwards: a run promoted late, with older rows, must not make the next
    -- extract re-read what later runs already promoted. run_id names the last promoting run.
    high_watermark = GREATEST(watermarks.high_watermark, src.high_watermark),
    run_id = src.run_id,
    promoted_at = src.promoted_at
WHEN NOT MATCHED THEN INSERT (
    table_name, high_watermark, run_id, promoted_at
) VALUES (
    src.table_name, src.high_watermark, src.run_id, src.promoted_at
);
{{ m.drop_merge_source('merge_source_watermarks') }}
