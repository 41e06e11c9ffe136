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
COPY staging_layer."landing_customers" ("customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city", "customer_state", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/customers/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_geolocation" ("geolocation_id", "geolocation_zip_code_prefix", "geolocation_lat", "geolocation_lng", "geolocation_city", "geolocation_state", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/geolocation/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_orders" ("order_id", "customer_id", "order_status", "order_purchase_timestamp", "order_approved_at", "order_delivered_carrier_date", "order_delivered_customer_date", "order_estimated_delivery_date", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/orders/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_order_items" ("order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price", "freight_value", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/order_items/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_order_payments" ("order_id", "payment_sequential", "payment_type", "payment_installments", "payment_value", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/order_payments/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_order_reviews" ("review_id", "order_id", "review_score", "review_comment_title", "review_comment_message", "review_creation_date", "review_answer_timestamp", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/order_reviews/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_products" ("product_id", "product_category_name", "product_name_length", "product_description_length", "product_photos_qty", "product_weight_g", "product_length_cm", "product_height_cm", "product_width_cm", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/products/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_sellers" ("seller_id", "seller_zip_code_prefix", "seller_city", "seller_state", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/sellers/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;

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
COPY staging_layer."landing_product_category_name_translation" ("product_category_name", "product_category_name_english", "updated_at")
FROM 's3://olist-staging/olist/runs/20180301T100000Z/product_category_name_translation/copy.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/olist-redshift-copy'
MANIFEST
FORMAT AS CSV
GZIP
IGNOREHEADER 1
NULL AS '~N~'
ENCODING UTF8
TIMEFORMAT 'auto'
DATEFORMAT 'auto'
ROUNDEC
COMPUPDATE OFF
STATUPDATE ON;
