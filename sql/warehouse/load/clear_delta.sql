-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
{% if dialect == 'redshift' %}
DELETE FROM staging_layer.{{ table | ident }};
{% else %}
TRUNCATE staging_layer.{{ table | ident }};
{% endif %}
