-- A view whose columns change is dropped and created again: Redshift refuses a CREATE OR REPLACE
-- VIEW that changes the column set, PostgreSQL one that renames, removes or reorders columns
-- (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_VIEW.html). Grants on it are lost
-- with it; docs/redshift.md says to re-apply them.
DROP VIEW user_access_layer.{{ view | ident }};
