-- Only the demo uses this, and only on the embedded warehouse: start from an empty warehouse.
DROP SCHEMA IF EXISTS staging_layer CASCADE;
DROP SCHEMA IF EXISTS user_access_layer CASCADE;
DROP SCHEMA IF EXISTS etl_control CASCADE;
