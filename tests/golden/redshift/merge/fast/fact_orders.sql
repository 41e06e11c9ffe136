-- fact_orders: the accumulating snapshot, one row per order_id: status, the five milestone
-- timestamps with their date keys, the delivery measures, and the key of the customer version
-- current at purchase (the unknown member while the order's customer row has not arrived).
-- The staged version of an order (its status moved on) replaces the stored row; the item columns
-- are filled by fact_orders_totals.sql once the items are merged. Into an empty fact_orders and
-- fact_order_items (the fast path) this insert sums the staged items itself: they are exactly the
-- items the run merges, and a second pass would rewrite every order row it has just inserted.
INSERT INTO user_access_layer.fact_orders (
    order_id, customer_id, customer_key, order_status, order_purchase_timestamp, order_approved_at, order_delivered_carrier_date, order_delivered_customer_date, order_estimated_delivery_date, purchase_date_key, approved_date_key, delivered_carrier_date_key, delivered_customer_date_key, estimated_delivery_date_key, is_delivered_late, days_to_deliver, updated_at, deleted_at, item_count, items_value, freight_value, order_total
)
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

item_versions AS (
    -- fact_order_items.sql's newest version of each staged item, which is what it inserts.
    SELECT
        order_id,
        price,
        freight_value,
        ROW_NUMBER() OVER (PARTITION BY order_id, order_item_id ORDER BY updated_at DESC NULLS LAST) AS version_rank
    FROM staging_layer.order_items
    WHERE order_id IS NOT NULL
),

item_sums AS (
    SELECT
        order_id,
        CAST(COUNT(*) AS INTEGER) AS item_count,
        CAST(COALESCE(SUM(price), 0) AS NUMERIC(12,2)) AS items_value,
        CAST(COALESCE(SUM(freight_value), 0) AS NUMERIC(12,2)) AS freight_value
    FROM item_versions
    WHERE version_rank = 1
    GROUP BY order_id
),

candidates AS (
    SELECT * FROM incoming
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
)

-- fact_orders_totals.sql's values: an order without items has 0 and 0.00.
SELECT
    keyed.order_id,
    keyed.customer_id,
    keyed.customer_key,
    keyed.order_status,
    keyed.order_purchase_timestamp,
    keyed.order_approved_at,
    keyed.order_delivered_carrier_date,
    keyed.order_delivered_customer_date,
    keyed.order_estimated_delivery_date,
    keyed.purchase_date_key,
    keyed.approved_date_key,
    keyed.delivered_carrier_date_key,
    keyed.delivered_customer_date_key,
    keyed.estimated_delivery_date_key,
    keyed.is_delivered_late,
    keyed.days_to_deliver,
    keyed.updated_at,
    keyed.deleted_at,
    COALESCE(item_sums.item_count, 0) AS item_count,
    COALESCE(item_sums.items_value, 0) AS items_value,
    COALESCE(item_sums.freight_value, 0) AS freight_value,
    CAST(COALESCE(item_sums.items_value, 0) + COALESCE(item_sums.freight_value, 0) AS NUMERIC(12,2)) AS order_total
FROM keyed
LEFT JOIN item_sums ON item_sums.order_id = keyed.order_id;
