-- The nine Olist source tables on SQLite, column for column as in olist_etl/tables.py.
--
-- * Declared types give the affinities we need: CHAR/VARCHAR/TEXT keep zip prefixes such as
--   '01310' as text, INTEGER/DOUBLE/DECIMAL store numbers. Text compares with BINARY collation,
--   so keys and free text round-trip byte for byte.
-- * No foreign keys: the real export has orphans, and catching them is the quality gates' job.
-- * updated_at is text 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLite's clock has milliseconds, we pad to
--   six digits) so it compares as text exactly like the extract's watermark strings. The
--   trigger below keeps it current on update, as MySQL's ON UPDATE does.
-- * Idempotent: IF NOT EXISTS, so drop_existing=False keeps what is there.

CREATE TABLE IF NOT EXISTS customers (
    customer_id               CHAR(32)     NOT NULL,
    customer_unique_id        CHAR(32)     NOT NULL,
    customer_zip_code_prefix  CHAR(5)      NULL,
    customer_city             VARCHAR(100) NULL,
    customer_state            CHAR(2)      NULL,
    updated_at                TEXT         NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (customer_id)
);

-- The real file has exact duplicate rows and no key, hence the surrogate (a rowid alias).
CREATE TABLE IF NOT EXISTS geolocation (
    geolocation_id               INTEGER      NOT NULL PRIMARY KEY,
    geolocation_zip_code_prefix  CHAR(5)      NULL,
    geolocation_lat              DOUBLE       NULL,
    geolocation_lng              DOUBLE       NULL,
    geolocation_city             VARCHAR(100) NULL,
    geolocation_state            CHAR(2)      NULL,
    updated_at                   TEXT         NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')
);

CREATE TABLE IF NOT EXISTS orders (
    order_id                       CHAR(32)    NOT NULL,
    customer_id                    CHAR(32)    NOT NULL,
    order_status                   VARCHAR(20) NOT NULL,
    order_purchase_timestamp       DATETIME    NULL,
    order_approved_at              DATETIME    NULL,
    order_delivered_carrier_date   DATETIME    NULL,
    order_delivered_customer_date  DATETIME    NULL,
    order_estimated_delivery_date  DATETIME    NULL,
    updated_at                     TEXT        NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (order_id)
);

CREATE TABLE IF NOT EXISTS order_items (
    order_id             CHAR(32)      NOT NULL,
    order_item_id        SMALLINT      NOT NULL,
    product_id           CHAR(32)      NOT NULL,
    seller_id            CHAR(32)      NOT NULL,
    shipping_limit_date  DATETIME      NULL,
    price                DECIMAL(12,2) NULL,
    freight_value        DECIMAL(12,2) NULL,
    updated_at           TEXT          NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (order_id, order_item_id)
);

CREATE TABLE IF NOT EXISTS order_payments (
    order_id              CHAR(32)      NOT NULL,
    payment_sequential    SMALLINT      NOT NULL,
    payment_type          VARCHAR(20)   NULL,
    payment_installments  SMALLINT      NULL,
    payment_value         DECIMAL(12,2) NULL,
    updated_at            TEXT          NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (order_id, payment_sequential)
);

-- A review_id can cover several orders, hence the two-column key.
CREATE TABLE IF NOT EXISTS order_reviews (
    review_id                CHAR(32)     NOT NULL,
    order_id                 CHAR(32)     NOT NULL,
    review_score             SMALLINT     NULL,
    review_comment_title     VARCHAR(255) NULL,
    review_comment_message   TEXT         NULL,
    review_creation_date     DATETIME     NULL,
    review_answer_timestamp  DATETIME     NULL,
    updated_at               TEXT         NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (review_id, order_id)
);

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
    updated_at                  TEXT         NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (product_id)
);

CREATE TABLE IF NOT EXISTS sellers (
    seller_id               CHAR(32)     NOT NULL,
    seller_zip_code_prefix  CHAR(5)      NULL,
    seller_city             VARCHAR(100) NULL,
    seller_state            CHAR(2)      NULL,
    updated_at              TEXT         NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (seller_id)
);

CREATE TABLE IF NOT EXISTS product_category_name_translation (
    product_category_name          VARCHAR(100) NOT NULL,
    product_category_name_english  VARCHAR(100) NULL,
    updated_at                     TEXT         NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'),
    PRIMARY KEY (product_category_name)
);

-- Per table: the updated_at index for the extract's range scans, and the trigger that moves
-- updated_at when a row really changes and the statement did not set it itself (MySQL's ON
-- UPDATE semantics). Each trigger is one line: the file is split on semicolons that end a line.
{% for table in tables %}
CREATE INDEX IF NOT EXISTS {{ q("ix_" ~ table.name ~ "_updated_at") }} ON {{ q(table.name) }} ({{ q("updated_at") }});
CREATE TRIGGER IF NOT EXISTS {{ q("trg_" ~ table.name ~ "_updated_at") }} AFTER UPDATE ON {{ q(table.name) }} FOR EACH ROW WHEN NEW.{{ q("updated_at") }} IS OLD.{{ q("updated_at") }} AND ({% for column in table.column_names %}NEW.{{ q(column) }} IS NOT OLD.{{ q(column) }}{{ " OR " if not loop.last }}{% endfor %}) BEGIN UPDATE {{ q(table.name) }} SET {{ q("updated_at") }} = strftime('%Y-%m-%d %H:%M:%f', 'now') || '000' WHERE rowid = NEW.rowid; END;
{% endfor %}
