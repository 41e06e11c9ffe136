-- fact_orders: the accumulating snapshot, one row per order_id: status, the five milestone
-- timestamps with their date keys, the delivery measures, and the key of the customer version
-- current at purchase (the unknown member while the order's customer row has not arrived).
-- The staged version of an order (its status moved on) replaces the stored row; the item columns
-- are filled by fact_orders_totals.sql once the items are merged. Into an empty fact_orders and
-- fact_order_items (the fast path) this insert sums the staged items itself: they are exactly the
-- items the run merges, and a second pass would rewrite every order row it has just inserted.
CREATE TEMP TABLE merge_source_fact_orders DISTKEY (order_id) AS
WITH staged_versions AS (
    -- The lookback window re-extracts rows already staged: keep the newest version of each key
    -- (MERGE, on Redshift too, needs at most one source row per target row).
    SELECT
        order_id,
        customer_id,
        order_status,
        order_purchase_timestamp,
        order_approved_at,
        order_delivered_carrier_date,
        order_delivered_customer_date,
        order_estimated_delivery_date,
        updated_at,
        ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.orders
),

staged AS (
    SELECT order_id, customer_id, order_status, order_purchase_timestamp, order_approved_at, order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date, updated_at
    FROM staged_versions
    WHERE version_rank = 1
),

incoming AS (
    -- Every staged row: it is the source's current state, whatever its updated_at says (a row
    -- restored from a backup or corrected under a clock set back is synced too). A key that was
    -- marked deleted and is staged again comes back (deleted_at NULL).
    SELECT staged.*, CAST(NULL AS TIMESTAMP) AS deleted_at
    FROM staged
),

rekeyed AS (
    -- Stored orders whose customer key may move: the person got a version this run, or the
    -- customer row arrived after the order (the unknown member is repaired).
    -- A LEFT JOIN anti-join, not NOT EXISTS: Redshift documents correlated subqueries over
    -- window-function CTEs as unsupported (docs/redshift.md, tests/test_redshift_lint.py).
    SELECT stored.order_id, stored.customer_id, stored.order_status, stored.order_purchase_timestamp, stored.order_approved_at, stored.order_delivered_carrier_date, stored.order_delivered_customer_date, stored.order_estimated_delivery_date, stored.updated_at, stored.deleted_at
    FROM user_access_layer.fact_orders AS stored
    LEFT JOIN incoming ON incoming.order_id = stored.order_id
    WHERE stored.order_id IN (SELECT order_fact.order_id
    FROM user_access_layer.fact_orders AS order_fact
    INNER JOIN user_access_layer.customer_account AS account ON account.customer_id = order_fact.customer_id
    WHERE account.customer_unique_id IN (
        SELECT customer_unique_id FROM staging_layer.customers WHERE customer_unique_id IS NOT NULL
    ))
        AND incoming.order_id IS NULL
),

candidates AS (
    SELECT * FROM incoming
    UNION ALL
    SELECT * FROM rekeyed
),

keyed AS (
    SELECT
        candidates.order_id,
        candidates.customer_id,
        COALESCE(customer.customer_key, '00000000000000000000000000000000') AS customer_key,
        candidates.order_status,
        candidates.order_purchase_timestamp,
        candidates.order_approved_at,
        candidates.order_delivered_carrier_date,
        candidates.order_delivered_customer_date,
        candidates.order_estimated_delivery_date,
        CAST(TO_CHAR(candidates.order_purchase_timestamp, 'YYYYMMDD') AS INTEGER) AS purchase_date_key,
        CAST(TO_CHAR(candidates.order_approved_at, 'YYYYMMDD') AS INTEGER) AS approved_date_key,
        CAST(TO_CHAR(candidates.order_delivered_carrier_date, 'YYYYMMDD') AS INTEGER) AS delivered_carrier_date_key,
        CAST(TO_CHAR(candidates.order_delivered_customer_date, 'YYYYMMDD') AS INTEGER) AS delivered_customer_date_key,
        CAST(TO_CHAR(candidates.order_estimated_delivery_date, 'YYYYMMDD') AS INTEGER) AS estimated_delivery_date_key,
        -- Late means delivered on a later calendar day than estimated (the estimate is a date).
        CASE
            WHEN candidates.order_delivered_customer_date IS NULL
                OR candidates.order_estimated_delivery_date IS NULL THEN NULL
            WHEN CAST(candidates.order_delivered_customer_date AS DATE)
                > CAST(candidates.order_estimated_delivery_date AS DATE) THEN TRUE
            ELSE FALSE
        END AS is_delivered_late,
        DATEDIFF(day, CAST(candidates.order_purchase_timestamp AS DATE), CAST(candidates.order_delivered_customer_date AS DATE)) AS days_to_deliver,
        candidates.updated_at,
        candidates.deleted_at
    FROM candidates
    LEFT JOIN user_access_layer.customer_account AS account ON account.customer_id = candidates.customer_id
    LEFT JOIN user_access_layer.dim_customer AS customer
        ON customer.customer_unique_id = account.customer_unique_id
        AND ((candidates.order_purchase_timestamp IS NULL AND customer.is_current) OR (customer.valid_from <= candidates.order_purchase_timestamp AND candidates.order_purchase_timestamp < customer.valid_to))
),

changed AS (
    -- New keys, and keys whose values differ.
    SELECT keyed.*
    FROM keyed
    LEFT JOIN user_access_layer.fact_orders AS stored ON stored.order_id = keyed.order_id
    WHERE stored.order_id IS NULL
        OR (
                COALESCE(keyed.customer_id <> stored.customer_id, keyed.customer_id IS NOT NULL OR stored.customer_id IS NOT NULL) OR
                COALESCE(keyed.customer_key <> stored.customer_key, keyed.customer_key IS NOT NULL OR stored.customer_key IS NOT NULL) OR
                COALESCE(keyed.order_status <> stored.order_status OR OCTET_LENGTH(keyed.order_status) <> OCTET_LENGTH(stored.order_status), keyed.order_status IS NOT NULL OR stored.order_status IS NOT NULL) OR
                COALESCE(keyed.order_purchase_timestamp <> stored.order_purchase_timestamp, keyed.order_purchase_timestamp IS NOT NULL OR stored.order_purchase_timestamp IS NOT NULL) OR
                COALESCE(keyed.order_approved_at <> stored.order_approved_at, keyed.order_approved_at IS NOT NULL OR stored.order_approved_at IS NOT NULL) OR
                COALESCE(keyed.order_delivered_carrier_date <> stored.order_delivered_carrier_date, keyed.order_delivered_carrier_date IS NOT NULL OR stored.order_delivered_carrier_date IS NOT NULL) OR
                COALESCE(keyed.order_delivered_customer_date <> stored.order_delivered_customer_date, keyed.order_delivered_customer_date IS NOT NULL OR stored.order_delivered_customer_date IS NOT NULL) OR
                COALESCE(keyed.order_estimated_delivery_date <> stored.order_estimated_delivery_date, keyed.order_estimated_delivery_date IS NOT NULL OR stored.order_estimated_delivery_date IS NOT NULL) OR
                COALESCE(keyed.purchase_date_key <> stored.purchase_date_key, keyed.purchase_date_key IS NOT NULL OR stored.purchase_date_key IS NOT NULL) OR
                COALESCE(keyed.approved_date_key <> stored.approved_date_key, keyed.approved_date_key IS NOT NULL OR stored.approved_date_key IS NOT NULL) OR
                COALESCE(keyed.delivered_carrier_date_key <> stored.delivered_carrier_date_key, keyed.delivered_carrier_date_key IS NOT NULL OR stored.delivered_carrier_date_key IS NOT NULL) OR
                COALESCE(keyed.delivered_customer_date_key <> stored.delivered_customer_date_key, keyed.delivered_customer_date_key IS NOT NULL OR stored.delivered_customer_date_key IS NOT NULL) OR
                COALESCE(keyed.estimated_delivery_date_key <> stored.estimated_delivery_date_key, keyed.estimated_delivery_date_key IS NOT NULL OR stored.estimated_delivery_date_key IS NOT NULL) OR
                COALESCE(keyed.is_delivered_late <> stored.is_delivered_late, keyed.is_delivered_late IS NOT NULL OR stored.is_delivered_late IS NOT NULL) OR
                COALESCE(keyed.days_to_deliver <> stored.days_to_deliver, keyed.days_to_deliver IS NOT NULL OR stored.days_to_deliver IS NOT NULL) OR
                COALESCE(keyed.updated_at <> stored.updated_at, keyed.updated_at IS NOT NULL OR stored.updated_at IS NOT NULL) OR
                COALESCE(keyed.deleted_at <> stored.deleted_at, keyed.deleted_at IS NOT NULL OR stored.deleted_at IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.fact_orders
USING merge_source_fact_orders AS src
ON fact_orders.order_id = src.order_id
WHEN MATCHED THEN UPDATE SET
    customer_id = src.customer_id,
    customer_key = src.customer_key,
    order_status = src.order_status,
    order_purchase_timestamp = src.order_purchase_timestamp,
    order_approved_at = src.order_approved_at,
    order_delivered_carrier_date = src.order_delivered_carrier_date,
    order_delivered_customer_date = src.order_delivered_customer_date,
    order_estimated_delivery_date = src.order_estimated_delivery_date,
    purchase_date_key = src.purchase_date_key,
    approved_date_key = src.approved_date_key,
    delivered_carrier_date_key = src.delivered_carrier_date_key,
    delivered_customer_date_key = src.delivered_customer_date_key,
    estimated_delivery_date_key = src.estimated_delivery_date_key,
    is_delivered_late = src.is_delivered_late,
    days_to_deliver = src.days_to_deliver,
    updated_at = src.updated_at,
    deleted_at = src.deleted_at
WHEN NOT MATCHED THEN INSERT (
    order_id, customer_id, customer_key, order_status, order_purchase_timestamp, order_approved_at, order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date, purchase_date_key, approved_date_key, delivered_carrier_date_key, delivered_customer_date_key, estimated_delivery_date_key, is_delivered_late, days_to_deliver, updated_at, deleted_at
) VALUES (
    src.order_id, src.customer_id, src.customer_key, src.order_status, src.order_purchase_timestamp, src.order_approved_at, src.order_delivered_carrier_date, src.order_delivered_customer_date, src.order_estimated_delivery_date, src.purchase_date_key, src.approved_date_key, src.delivered_carrier_date_key, src.delivered_customer_date_key, src.estimated_delivery_date_key, src.is_delivered_late, src.days_to_deliver, src.updated_at, src.deleted_at
);
DROP TABLE merge_source_fact_orders;

