-- Drop the Olist source tables; their indexes and updated_at triggers go with them.
{% for table in tables %}
DROP TABLE IF EXISTS {{ q(table.name) }};
{% endfor %}
