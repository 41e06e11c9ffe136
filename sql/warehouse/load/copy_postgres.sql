-- Stream one staged part (gzip CSV, RFC 4180) into a delta table.
-- NULL: the staged parts write NULL as the unquoted marker (olist_etl/stage.py NULL_MARKER); '' is an
-- empty field and a value equal to the marker is quoted, and COPY reads a quoted field as text.
-- HEADER MATCH (PostgreSQL 15+, like MERGE) also checks that the header names exactly these
-- columns in this order, so a part staged with another layout fails instead of shifting values.
COPY staging_layer.{{ table | ident }} ({% for column in columns %}{{ column | ident }}{{ ', ' if not loop.last }}{% endfor %})
FROM STDIN WITH (FORMAT csv, HEADER MATCH, NULL '{{ null_marker }}', ENCODING 'UTF8');
