-- The definition each analytics view was last created from (etl_control.views).
SELECT view_name, definition_md5, column_names
FROM etl_control.views;
