-- Load every part of one table of a run from its Redshift COPY manifest (one COPY, all slices
-- in parallel). Redshift cannot bind the manifest URI or the role as parameters, so they are
-- literals here: olist_etl/load.py validates both against strict patterns before rendering.
-- NULL AS: the staged parts write NULL as the unquoted marker (olist_etl/stage.py NULL_MARKER), and
-- '' as an empty field: no EMPTYASNULL / BLANKSASNULL, which would turn '' (and '  ') into NULL.
-- ROUNDEC: round, like PostgreSQL, a value with more decimals than the column (COPY would
-- truncate). No TRUNCATECOLUMNS / ACCEPTINVCHARS / MAXERROR: a bad value fails the COPY.
-- STATUPDATE ON: the COPY refreshes the delta's statistics, so the gates and the merge are not
-- planned from the previous run's (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-load.html).
-- REGION: only when the bucket is in another region than the cluster (OLIST_REDSHIFT_REGION).
COPY staging_layer.{{ table | ident }} ({% for column in columns %}{{ column | ident }}{{ ', ' if not loop.last }}{% endfor %})
FROM '{{ manifest_uri }}'
IAM_ROLE '{{ iam_role }}'
{% if region %}
REGION '{{ region }}'
{% endif %}
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '{{ null_marker }}'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;
