-- PostgreSQL only: the unique indexes that already hold each star-schema key, read inside the
-- promote transaction before the key checks. An index counts only if PostgreSQL enforces it on
-- every row at each statement: valid, not deferred, not partial, on plain columns, and every
-- column NOT NULL (a unique index lets NULLs repeat; the key check groups them). A key check
-- whose columns include all of one such index's columns cannot find a duplicate and is skipped.
-- Redshift enforces no key, so there every check runs and this file is never read.
WITH

enforced AS (
    SELECT idx.indexrelid, idx.indrelid, idx.indkey
    FROM pg_catalog.pg_index AS idx
    INNER JOIN pg_catalog.pg_class AS tbl ON tbl.oid = idx.indrelid
    INNER JOIN pg_catalog.pg_namespace AS nsp ON nsp.oid = tbl.relnamespace
    WHERE nsp.nspname = 'user_access_layer'
        AND idx.indisunique
        AND idx.indisvalid
        AND idx.indimmediate
        AND idx.indpred IS NULL
        AND idx.indexprs IS NULL
)

SELECT
    CAST(enforced.indexrelid AS BIGINT) AS index_id,
    tbl.relname AS table_name,
    att.attname AS column_name,
    att.attnotnull AS not_null
FROM enforced
INNER JOIN pg_catalog.pg_class AS tbl ON tbl.oid = enforced.indrelid
INNER JOIN pg_catalog.pg_attribute AS att
    ON att.attrelid = enforced.indrelid AND att.attnum = ANY (enforced.indkey)
ORDER BY index_id, column_name;
