-- Record the definition an analytics view was created from, in create_warehouse's transaction.
DELETE FROM etl_control.views
WHERE view_name = :view_name;
INSERT INTO etl_control.views (view_name, definition_md5, column_names, replaced_at)
VALUES (:view_name, :definition_md5, :column_names, :replaced_at);
