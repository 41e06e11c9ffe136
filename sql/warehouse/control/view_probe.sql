-- The columns a view definition produces, without reading a row: compared with the existing
-- view's columns to choose CREATE OR REPLACE (same columns) or DROP + CREATE (columns changed).
SELECT *
FROM (
{{ body }}
) AS view_probe
LIMIT 0;
