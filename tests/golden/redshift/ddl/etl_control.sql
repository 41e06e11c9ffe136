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

-- The run each staging_layer delta table holds, written by every load in its own transaction
-- (control/record_load.sql) and checked by promote. Also the table every writing transaction
-- locks first on Redshift (control/lock_sync.sql).
CREATE TABLE IF NOT EXISTS etl_control.loads (
    table_name VARCHAR(64) NOT NULL,
    run_id VARCHAR(64) NOT NULL,
    loaded_at TIMESTAMP,
    PRIMARY KEY (table_name)
)
DISTSTYLE ALL
;

-- The definition each analytics view was last created from (md5 of its rendered SQL and its
-- columns), so create_warehouse replaces a view only when its definition changed
-- (olist_etl/warehouse/views.py).
CREATE TABLE IF NOT EXISTS etl_control.views (
    view_name VARCHAR(128) NOT NULL,
    definition_md5 CHAR(32) NOT NULL,
    column_names VARCHAR(4096) NOT NULL,
    replaced_at TIMESTAMP,
    PRIMARY KEY (view_name)
)
DISTSTYLE ALL
;
