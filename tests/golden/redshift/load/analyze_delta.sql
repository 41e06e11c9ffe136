-- Refresh a delta table's planner statistics right after it is refilled, inside the load's
-- transaction, on both dialects. The gates and the merge join every delta with the star schema;
-- a table just emptied and refilled would otherwise be planned from the previous run's (or
-- default) row estimates, and a 1% incremental delta planned like a full one, or the reverse.
-- On Redshift the delta is filled by an INSERT from the landing table, which does not refresh
-- statistics the way a COPY with STATUPDATE ON does
-- (https://docs.aws.amazon.com/redshift/latest/dg/r_ANALYZE.html).
ANALYZE staging_layer."orders";
