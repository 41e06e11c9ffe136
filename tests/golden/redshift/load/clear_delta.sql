-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."customers";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."geolocation";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."orders";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."order_items";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."order_payments";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."order_reviews";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."products";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."sellers";
-- Empty a delta table before loading a run into it, inside the load's transaction.
-- Redshift's TRUNCATE commits the current transaction implicitly, which would make a failed
-- COPY leave the table empty instead of as it was; DELETE stays inside the transaction.
DELETE FROM staging_layer."product_category_name_translation";
