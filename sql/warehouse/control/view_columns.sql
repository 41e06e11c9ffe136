-- The columns of an existing analytics view, in order (none: the view does not exist).
SELECT column_name
FROM information_schema.columns
WHERE table_schema = 'user_access_layer'
    AND table_name = :view_name
ORDER BY ordinal_position;
