-- The first statement of every transaction that writes the delta tables, the star schema or the
-- DDL on Redshift (load, promote, create_warehouse): an exclusive lock on the load-control table,
-- held to commit, so two syncs' writes never interleave and never fail each other with
-- "ERROR: 1023 Serializable isolation violation". LOCK on Redshift has no mode: it is exclusive
-- (https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html); PostgreSQL reads the same text as
-- ACCESS EXCLUSIVE. The promote takes it on PostgreSQL too (behind the advisory lock).
LOCK etl_control.loads;
