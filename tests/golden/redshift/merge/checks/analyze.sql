-- Refresh the planner statistics of a star-schema table the promote wrote, inside its
-- transaction, before the key checks and the post-merge suite read it: a table filled from empty
-- by a first full sync would otherwise be planned as empty, and one that grew as it was. ANALYZE
-- runs in a transaction block on both databases (PostgreSQL counts the transaction's own rows;
-- https://docs.aws.amazon.com/redshift/latest/dg/r_ANALYZE.html), like the load's analyze_delta.sql.
ANALYZE user_access_layer."fact_orders";
