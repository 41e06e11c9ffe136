-- Drop the Olist source tables (create_source_schema(drop_existing=True) runs this first).
{% for table in tables %}
DROP TABLE IF EXISTS {{ q(table.name) }};
{% endfor %}
