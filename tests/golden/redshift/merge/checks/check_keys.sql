-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose product_category_name is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT product_category_name AS scope_value
    FROM staging_layer."product_category_name_translation"
    WHERE product_category_name IS NOT NULL
),

scoped AS (
    SELECT stored.product_category_name
    FROM user_access_layer."product_category_translation" AS stored
    INNER JOIN touched ON touched.scope_value = stored.product_category_name
),

duplicated AS (
    SELECT product_category_name, COUNT(*) AS copies
    FROM scoped
    GROUP BY product_category_name
    HAVING COUNT(*) > 1
)

SELECT product_category_name, copies
FROM duplicated
ORDER BY product_category_name
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose product_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT product_id AS scope_value
    FROM staging_layer."products"
    WHERE product_id IS NOT NULL
),

scoped AS (
    SELECT stored.product_key
    FROM user_access_layer."dim_product" AS stored
    INNER JOIN touched ON touched.scope_value = stored.product_id
    UNION ALL
    SELECT stored.product_key
    FROM user_access_layer."dim_product" AS stored
    WHERE stored.product_key = '00000000000000000000000000000000'
),

duplicated AS (
    SELECT product_key, COUNT(*) AS copies
    FROM scoped
    GROUP BY product_key
    HAVING COUNT(*) > 1
)

SELECT product_key, copies
FROM duplicated
ORDER BY product_key
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose product_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT product_id AS scope_value
    FROM staging_layer."products"
    WHERE product_id IS NOT NULL
),

scoped AS (
    SELECT stored.product_id
    FROM user_access_layer."dim_product" AS stored
    INNER JOIN touched ON touched.scope_value = stored.product_id
    WHERE stored.is_current
),

duplicated AS (
    SELECT product_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY product_id
    HAVING COUNT(*) > 1
)

SELECT product_id, copies
FROM duplicated
ORDER BY product_id
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose customer_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT customer_id AS scope_value
    FROM staging_layer."customers"
    WHERE customer_id IS NOT NULL
),

scoped AS (
    SELECT stored.customer_id
    FROM user_access_layer."customer_account" AS stored
    INNER JOIN touched ON touched.scope_value = stored.customer_id
),

duplicated AS (
    SELECT customer_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY customer_id
    HAVING COUNT(*) > 1
)

SELECT customer_id, copies
FROM duplicated
ORDER BY customer_id
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose customer_unique_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT customer_unique_id AS scope_value
    FROM staging_layer."customers"
    WHERE customer_unique_id IS NOT NULL
),

scoped AS (
    SELECT stored.customer_key
    FROM user_access_layer."dim_customer" AS stored
    INNER JOIN touched ON touched.scope_value = stored.customer_unique_id
    UNION ALL
    SELECT stored.customer_key
    FROM user_access_layer."dim_customer" AS stored
    WHERE stored.customer_key = '00000000000000000000000000000000'
),

duplicated AS (
    SELECT customer_key, COUNT(*) AS copies
    FROM scoped
    GROUP BY customer_key
    HAVING COUNT(*) > 1
)

SELECT customer_key, copies
FROM duplicated
ORDER BY customer_key
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose customer_unique_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT customer_unique_id AS scope_value
    FROM staging_layer."customers"
    WHERE customer_unique_id IS NOT NULL
),

scoped AS (
    SELECT stored.customer_unique_id
    FROM user_access_layer."dim_customer" AS stored
    INNER JOIN touched ON touched.scope_value = stored.customer_unique_id
    WHERE stored.is_current
),

duplicated AS (
    SELECT customer_unique_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY customer_unique_id
    HAVING COUNT(*) > 1
)

SELECT customer_unique_id, copies
FROM duplicated
ORDER BY customer_unique_id
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose seller_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT seller_id AS scope_value
    FROM staging_layer."sellers"
    WHERE seller_id IS NOT NULL
),

scoped AS (
    SELECT stored.seller_key
    FROM user_access_layer."dim_seller" AS stored
    INNER JOIN touched ON touched.scope_value = stored.seller_id
    UNION ALL
    SELECT stored.seller_key
    FROM user_access_layer."dim_seller" AS stored
    WHERE stored.seller_key = '00000000000000000000000000000000'
),

duplicated AS (
    SELECT seller_key, COUNT(*) AS copies
    FROM scoped
    GROUP BY seller_key
    HAVING COUNT(*) > 1
)

SELECT seller_key, copies
FROM duplicated
ORDER BY seller_key
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose seller_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT seller_id AS scope_value
    FROM staging_layer."sellers"
    WHERE seller_id IS NOT NULL
),

scoped AS (
    SELECT stored.seller_id
    FROM user_access_layer."dim_seller" AS stored
    INNER JOIN touched ON touched.scope_value = stored.seller_id
    WHERE stored.is_current
),

duplicated AS (
    SELECT seller_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY seller_id
    HAVING COUNT(*) > 1
)

SELECT seller_id, copies
FROM duplicated
ORDER BY seller_id
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose geolocation_zip_code_prefix is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT geolocation_zip_code_prefix AS scope_value
    FROM staging_layer."geolocation"
    WHERE geolocation_zip_code_prefix IS NOT NULL
),

scoped AS (
    SELECT stored.geolocation_zip_code_prefix
    FROM user_access_layer."dim_geolocation" AS stored
    INNER JOIN touched ON touched.scope_value = stored.geolocation_zip_code_prefix
),

duplicated AS (
    SELECT geolocation_zip_code_prefix, COUNT(*) AS copies
    FROM scoped
    GROUP BY geolocation_zip_code_prefix
    HAVING COUNT(*) > 1
)

SELECT geolocation_zip_code_prefix, copies
FROM duplicated
ORDER BY geolocation_zip_code_prefix
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose geolocation_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT geolocation_id AS scope_value
    FROM staging_layer."geolocation"
    WHERE geolocation_id IS NOT NULL
),

scoped AS (
    SELECT stored.geolocation_id
    FROM user_access_layer."geolocation_point" AS stored
    INNER JOIN touched ON touched.scope_value = stored.geolocation_id
),

duplicated AS (
    SELECT geolocation_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY geolocation_id
    HAVING COUNT(*) > 1
)

SELECT geolocation_id, copies
FROM duplicated
ORDER BY geolocation_id
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose key is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
scoped AS (
    SELECT stored.date_key
    FROM user_access_layer."dim_date" AS stored
),

duplicated AS (
    SELECT date_key, COUNT(*) AS copies
    FROM scoped
    GROUP BY date_key
    HAVING COUNT(*) > 1
)

SELECT date_key, copies
FROM duplicated
ORDER BY date_key
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose order_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT order_id AS scope_value
    FROM staging_layer."orders"
    WHERE order_id IS NOT NULL
),

scoped AS (
    SELECT stored.order_id
    FROM user_access_layer."fact_orders" AS stored
    INNER JOIN touched ON touched.scope_value = stored.order_id
),

duplicated AS (
    SELECT order_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY order_id
    HAVING COUNT(*) > 1
)

SELECT order_id, copies
FROM duplicated
ORDER BY order_id
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose order_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT order_id AS scope_value
    FROM staging_layer."order_items"
    WHERE order_id IS NOT NULL
),

scoped AS (
    SELECT stored.order_id, stored.order_item_id
    FROM user_access_layer."fact_order_items" AS stored
    INNER JOIN touched ON touched.scope_value = stored.order_id
),

duplicated AS (
    SELECT order_id, order_item_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY order_id, order_item_id
    HAVING COUNT(*) > 1
)

SELECT order_id, order_item_id, copies
FROM duplicated
ORDER BY order_id, order_item_id
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose order_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT order_id AS scope_value
    FROM staging_layer."order_payments"
    WHERE order_id IS NOT NULL
),

scoped AS (
    SELECT stored.order_id, stored.payment_sequential
    FROM user_access_layer."fact_payments" AS stored
    INNER JOIN touched ON touched.scope_value = stored.order_id
),

duplicated AS (
    SELECT order_id, payment_sequential, COUNT(*) AS copies
    FROM scoped
    GROUP BY order_id, payment_sequential
    HAVING COUNT(*) > 1
)

SELECT order_id, payment_sequential, copies
FROM duplicated
ORDER BY order_id, payment_sequential
LIMIT 5;

-- Post-merge key check of one star-schema key, inside the promote transaction: the stored rows
-- the run touched (those whose review_id is in the delta table, plus the unknown
-- member) that share a key value. Redshift does not enforce PRIMARY KEY and its planner trusts
-- it (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so a
-- duplicate must block the promote there as the primary key does on PostgreSQL.
WITH
touched AS (
    SELECT DISTINCT review_id AS scope_value
    FROM staging_layer."order_reviews"
    WHERE review_id IS NOT NULL
),

scoped AS (
    SELECT stored.review_id, stored.order_id
    FROM user_access_layer."fact_reviews" AS stored
    INNER JOIN touched ON touched.scope_value = stored.review_id
),

duplicated AS (
    SELECT review_id, order_id, COUNT(*) AS copies
    FROM scoped
    GROUP BY review_id, order_id
    HAVING COUNT(*) > 1
)

SELECT review_id, order_id, copies
FROM duplicated
ORDER BY review_id, order_id
LIMIT 5;
