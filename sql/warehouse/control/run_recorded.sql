-- Whether a run is recorded already: a run recorded after the fact (blocked, failed, cancelled)
-- never overwrites a row, so a promoted run whose later step failed stays listed as promoted.
SELECT status
FROM etl_control.runs
WHERE run_id = :run_id;
