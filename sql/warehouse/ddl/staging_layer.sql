{% import 'warehouse/macros.jinja' as m with context %}
-- Delta tables: one per source table, named like it, with exactly the columns of a staged CSV
-- part (the catalog columns plus updated_at), typed like the source. No keys and no NOT NULL:
-- a bad row must load so that the validation gate can report it instead of COPY failing early.
{% for table in tables %}

CREATE TABLE IF NOT EXISTS staging_layer.{{ table.name | ident }} (
{% for column in table.columns %}
    {{ column.name | ident }} {{ m.column_type(column) }},
{% endfor %}
    {{ updated_at | ident }} TIMESTAMP
)
{% if dialect == 'redshift' %}
{% if 'order_id' in table.column_names %}
-- Co-located with the order facts it merges into (they are distributed on order_id).
DISTSTYLE KEY
DISTKEY ({{ 'order_id' | ident }})
{% elif table.name == 'geolocation' %}
-- Co-located with geolocation_point, which is distributed on the zip it is aggregated by.
DISTSTYLE KEY
DISTKEY ({{ 'geolocation_zip_code_prefix' | ident }})
{% else %}
-- Merges into DISTSTYLE ALL dimensions, which join locally whatever the distribution.
DISTSTYLE AUTO
{% endif %}
{% endif %}
;
{% endfor %}

-- Deleted keys: one table per source table, with the catalog key columns. An incremental or diff
-- sync fills it (inside the promote transaction) with the keys the source comparison found gone;
-- the merge marks those rows deleted (merge/mark_deleted.sql).
{% for table in tables %}

CREATE TABLE IF NOT EXISTS staging_layer.{{ ('deleted_' ~ table.name) | ident }} (
{% for key in table.primary_key %}
    {{ key | ident }} {{ m.column_type(table.column(key)) }}{{ ',' if not loop.last }}
{% endfor %}
)
{% if dialect == 'redshift' %}
{% if 'order_id' in table.primary_key %}
DISTSTYLE KEY
DISTKEY ({{ 'order_id' | ident }})
{% else %}
DISTSTYLE AUTO
{% endif %}
{% endif %}
;
{% endfor %}
