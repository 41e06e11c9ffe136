-- Record which run a delta table holds, in the load's own transaction (before the table is
-- emptied, so a load waits here while a promote holds the lock). promote refuses a run unless
-- every delta table names it: another sync's load in between is caught by run id, not by counts.
DELETE FROM etl_control.loads
WHERE table_name = :table_name;
INSERT INTO etl_control.loads (table_name, run_id, loaded_at)
VALUES (:table_name, :run_id, :loaded_at);
