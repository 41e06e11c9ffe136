-- The analytics views that exist, so the report can name every missing one at once.
SELECT table_name
FROM information_schema.views
WHERE table_schema = 'user_access_layer';
