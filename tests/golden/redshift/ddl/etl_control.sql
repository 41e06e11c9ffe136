-- High watermark per source table: the greatest updated_at promoted into the star schema.
-- The extract stage reads it to pick the rows changed since the last promoted run.
CREATE TABLE IF NOT EXISTS etl_control.watermarks (
    table_name VARCHAR(64) NOT NULL,
    high_watermark TIMESTAMP,
    run_id VARCHAR(64),
    promoted_at TIMESTAMP,
    PRIMARY KEY (table_name)
)
-- A handful of rows read by every run: a copy on every node.
DISTSTYLE ALL
;

-- One row per run. A promoted run is written in the same transaction as the merge it records;
-- a blocked, failed or cancelled one after the fact (olist_etl/runs.py). Columns added after the
-- first release are in olist_etl/warehouse/migrate.py too (CONTROL_COLUMNS), for older warehouses.
-- phase_seconds is JSON text ({"extract": s, "gates": s, "load": s, "merge": s}): VARCHAR, not
-- Redshift's SUPER, so both dialects store and read it the same way.
CREATE TABLE IF NOT EXISTS etl_control.runs (
    run_id VARCHAR(64) NOT NULL,
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
    error_message VARCHAR(4096),
    PRIMARY KEY (run_id)
)
DISTSTYLE ALL
SORTKEY (started_at)
;
