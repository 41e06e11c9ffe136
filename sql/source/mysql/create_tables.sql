-- The nine Olist source tables on MySQL / MariaDB, column for column as in olist_etl/tables.py.
--
-- * utf8mb4 with a binary collation: ids and free text round-trip byte for byte (emoji included)
--   and keys compare exactly, never accent- or case-folded.
-- * No foreign keys: the real export has orphans, and catching them is the quality gates' job.
-- * updated_at is maintained by the server (insert and any real change), indexed for the
--   incremental extract's range scans. It is TIMESTAMP(6), not DATETIME(6): TIMESTAMP stores the
--   instant (UTC) and converts per session, so writers in any session time zone stamp the same
--   instant and the pipeline's UTC sessions read it as UTC (DATETIME would keep each writer's wall
--   clock, hours off the watermarks). TIMESTAMP ends in 2038; the business timestamps stay
--   DATETIME: they are the business's local wall-clock times, copied verbatim.
-- * Idempotent: IF NOT EXISTS, so drop_existing=False keeps what is there.

CREATE TABLE IF NOT EXISTS customers (
    customer_id               CHAR(32)     NOT NULL,
    customer_unique_id        CHAR(32)     NOT NULL,
    customer_zip_code_prefix  CHAR(5)      NULL,
    customer_city             VARCHAR(100) NULL,
    customer_state            CHAR(2)      NULL,
    updated_at                TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (customer_id),
    KEY ix_customers_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The real file has exact duplicate rows and no key, hence the surrogate.
CREATE TABLE IF NOT EXISTS geolocation (
    geolocation_id               INT          NOT NULL AUTO_INCREMENT,
    geolocation_zip_code_prefix  CHAR(5)      NULL,
    geolocation_lat              DOUBLE       NULL,
    geolocation_lng              DOUBLE       NULL,
    geolocation_city             VARCHAR(100) NULL,
    geolocation_state            CHAR(2)      NULL,
    updated_at                   TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (geolocation_id),
    KEY ix_geolocation_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS orders (
    order_id                       CHAR(32)    NOT NULL,
    customer_id                    CHAR(32)    NOT NULL,
    order_status                   VARCHAR(20) NOT NULL,
    order_purchase_timestamp       DATETIME    NULL,
    order_approved_at              DATETIME    NULL,
    order_delivered_carrier_date   DATETIME    NULL,
    order_delivered_customer_date  DATETIME    NULL,
    order_estimated_delivery_date  DATETIME    NULL,
    updated_at                     TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (order_id),
    KEY ix_orders_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS order_items (
    order_id             CHAR(32)      NOT NULL,
    order_item_id        SMALLINT      NOT NULL,
    product_id           CHAR(32)      NOT NULL,
    seller_id            CHAR(32)      NOT NULL,
    shipping_limit_date  DATETIME      NULL,
    price                DECIMAL(12,2) NULL,
    freight_value        DECIMAL(12,2) NULL,
    updated_at           TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (order_id, order_item_id),
    KEY ix_order_items_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS order_payments (
    order_id              CHAR(32)      NOT NULL,
    payment_sequential    SMALLINT      NOT NULL,
    payment_type          VARCHAR(20)   NULL,
    payment_installments  SMALLINT      NULL,
    payment_value         DECIMAL(12,2) NULL,
    updated_at            TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (order_id, payment_sequential),
    KEY ix_order_payments_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A review_id can cover several orders, hence the two-column key.
CREATE TABLE IF NOT EXISTS order_reviews (
    review_id                CHAR(32)     NOT NULL,
    order_id                 CHAR(32)     NOT NULL,
    review_score             SMALLINT     NULL,
    review_comment_title     VARCHAR(255) NULL,
    review_comment_message   TEXT         NULL,
    review_creation_date     DATETIME     NULL,
    review_answer_timestamp  DATETIME     NULL,
    updated_at               TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (review_id, order_id),
    KEY ix_order_reviews_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Weights reach 40 kg, hence INT rather than SMALLINT for the measures.
CREATE TABLE IF NOT EXISTS products (
    product_id                  CHAR(32)     NOT NULL,
    product_category_name       VARCHAR(100) NULL,
    product_name_length         INT          NULL,
    product_description_length  INT          NULL,
    product_photos_qty          SMALLINT     NULL,
    product_weight_g            INT          NULL,
    product_length_cm           INT          NULL,
    product_height_cm           INT          NULL,
    product_width_cm            INT          NULL,
    updated_at                  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (product_id),
    KEY ix_products_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS sellers (
    seller_id               CHAR(32)     NOT NULL,
    seller_zip_code_prefix  CHAR(5)      NULL,
    seller_city             VARCHAR(100) NULL,
    seller_state            CHAR(2)      NULL,
    updated_at              TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (seller_id),
    KEY ix_sellers_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS product_category_name_translation (
    product_category_name          VARCHAR(100) NOT NULL,
    product_category_name_english  VARCHAR(100) NULL,
    updated_at                     TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (product_category_name),
    KEY ix_product_category_name_translation_updated_at (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
