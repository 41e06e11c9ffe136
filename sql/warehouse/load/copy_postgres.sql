-- Stream one staged part (gzip CSV, RFC 4180, NULL = unquoted empty field) into a delta table.
-- HEADER MATCH (PostgreSQL 15+, like MERGE) also checks that the header names exactly these
-- columns in this order, so a part staged with another layout fails instead of shifting values.
COPY staging_layer.{{ table | ident }} ({% for column in columns %}{{ column | ident }}{{ ', ' if not loop.last }}{% endfor %})
FROM STDIN WITH (FORMAT csv, HEADER MATCH, ENCODING 'UTF8');
