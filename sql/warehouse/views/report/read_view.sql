-- The rows of one analytics view, in the order `olist-etl report` shows them. The view and
-- column names come from the fixed list in olist_etl/bi_report.py and are quoted.
SELECT
{% for column in columns %}
    {{ column | ident }}{{ ',' if not loop.last }}
{% endfor %}
FROM user_access_layer.{{ view | ident }}
ORDER BY {% for column, descending in order_by %}{{ column | ident }}{{ ' DESC' if descending }}{{ ', ' if not loop.last }}{% endfor %};
