{% import 'warehouse/macros.jinja' as m with context %}
-- The all-text landing table of one source table, recreated per run (runs hold the sync lock, so
-- one name per table serves every run). The staged parts are COPYed here unchanged; gate 1 (GX)
-- validates the text, and only then does fill_delta.sql cast it into the typed delta table, so a
-- malformed value is reported by its expectation instead of failing a COPY into typed columns.
-- UNLOGGED on PostgreSQL: the table is rebuilt from the staged parts by every run, so writing it
-- to the WAL as well would only slow the COPY (Redshift has no such option).
DROP TABLE IF EXISTS staging_layer.{{ landing | ident }};
CREATE {% if dialect != 'redshift' %}UNLOGGED {% endif %}TABLE staging_layer.{{ landing | ident }} (
{% for column in columns %}
    {{ column.name | ident }} {{ m.long_text() }}{{ ',' if not loop.last }}
{% endfor %}
);
