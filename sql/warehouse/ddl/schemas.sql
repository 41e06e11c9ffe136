-- The three schemas of the warehouse:
--   staging_layer      one delta table per source table, replaced by every load
--   user_access_layer  the star schema that BI tools read
--   etl_control        watermarks and run bookkeeping of the sync itself
CREATE SCHEMA IF NOT EXISTS staging_layer;
CREATE SCHEMA IF NOT EXISTS user_access_layer;
CREATE SCHEMA IF NOT EXISTS etl_control;
