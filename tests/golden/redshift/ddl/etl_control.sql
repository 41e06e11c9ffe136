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

-- One row per promoted run, written in the same transaction as the merge it records.
CREATE TABLE IF NOT EXISTS etl_control.runs (
    run_id VARCHAR(64) NOT NULL,
    mode VARCHAR(16),
    status VARCHAR(16),
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    rows_promoted BIGINT,
    PRIMARY KEY (run_id)
)
DISTSTYLE ALL
SORTKEY (started_at)
;
