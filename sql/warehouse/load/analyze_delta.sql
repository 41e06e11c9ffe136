-- PostgreSQL: refresh a delta table's planner statistics right after its COPY, inside the load's
-- transaction. The gates and the merge join every delta with the star schema; a table just
-- truncated and refilled would otherwise be planned from the previous run's (or default)
-- row estimates, and a 1% incremental delta planned like a full one, or the reverse.
ANALYZE staging_layer.{{ table | ident }};
