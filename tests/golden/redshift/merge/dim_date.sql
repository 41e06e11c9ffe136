-- dim_date: every calendar day of a fixed range, first_day .. last_day, whatever the data holds.
-- The range is not derived from the staged dates: one outlier (a purchase in 1970, a delivery in
-- 2099) would otherwise add decades of days. The gates reject any order or review date outside
-- it (expectations/staged/orders.json, order_reviews.json, same bounds), so every fact date key
-- has its row. Only days not stored yet are inserted (a stored day is rewritten only if its
-- attributes were edited by hand), so a re-run changes nothing. Days come from a 0..9999 offset
-- table built from digits (~27 years, more than the range): generate_series runs only on
-- Redshift's leader node, and a recursive CTE would need one iteration per day.
CREATE TEMP TABLE merge_source_dim_date AS
WITH bounds AS (
    SELECT CAST('2015-01-01' AS DATE) AS first_day, CAST('2035-12-31' AS DATE) AS last_day
),

digits AS (
    SELECT 0 AS digit UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4
    UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9
),

day_offsets AS (
    SELECT
        ones.digit + 10 * tens.digit + 100 * hundreds.digit + 1000 * thousands.digit AS day_offset
    FROM digits AS ones
    CROSS JOIN digits AS tens
    CROSS JOIN digits AS hundreds
    CROSS JOIN digits AS thousands
),

calendar AS (
    SELECT CAST(DATEADD(day, day_offsets.day_offset, bounds.first_day) AS DATE) AS calendar_date
    FROM bounds
    INNER JOIN day_offsets
        ON day_offsets.day_offset <= DATEDIFF(day, bounds.first_day, bounds.last_day)
),

days AS (
    SELECT
        CAST(TO_CHAR(calendar_date, 'YYYYMMDD') AS INTEGER) AS date_key,
        calendar_date,
        CAST(EXTRACT(YEAR FROM calendar_date) AS INTEGER) AS year_number,
        CAST(EXTRACT(QUARTER FROM calendar_date) AS INTEGER) AS quarter_number,
        CAST(EXTRACT(MONTH FROM calendar_date) AS INTEGER) AS month_number,
        CAST(EXTRACT(DAY FROM calendar_date) AS INTEGER) AS day_of_month,
        -- 0 = Sunday .. 6 = Saturday on both PostgreSQL and Redshift.
        CAST(EXTRACT(DOW FROM calendar_date) AS INTEGER) AS day_of_week,
        CASE WHEN EXTRACT(DOW FROM calendar_date) IN (0, 6) THEN TRUE ELSE FALSE END AS is_weekend
    FROM calendar
),

stored AS (
    SELECT
        date_key, calendar_date, year_number, quarter_number, month_number, day_of_month,
        day_of_week, is_weekend
    FROM user_access_layer.dim_date
),

changed AS (
    -- Days not present yet (a stored day only differs if its attributes were edited by hand).
    SELECT days.*
    FROM days
    LEFT JOIN stored ON stored.date_key = days.date_key
    WHERE stored.date_key IS NULL
        OR (
                COALESCE(days.calendar_date <> stored.calendar_date, days.calendar_date IS NOT NULL OR stored.calendar_date IS NOT NULL) OR
                COALESCE(days.year_number <> stored.year_number, days.year_number IS NOT NULL OR stored.year_number IS NOT NULL) OR
                COALESCE(days.quarter_number <> stored.quarter_number, days.quarter_number IS NOT NULL OR stored.quarter_number IS NOT NULL) OR
                COALESCE(days.month_number <> stored.month_number, days.month_number IS NOT NULL OR stored.month_number IS NOT NULL) OR
                COALESCE(days.day_of_month <> stored.day_of_month, days.day_of_month IS NOT NULL OR stored.day_of_month IS NOT NULL) OR
                COALESCE(days.day_of_week <> stored.day_of_week, days.day_of_week IS NOT NULL OR stored.day_of_week IS NOT NULL) OR
                COALESCE(days.is_weekend <> stored.is_weekend, days.is_weekend IS NOT NULL OR stored.is_weekend IS NOT NULL)
            )
)

SELECT * FROM changed;
MERGE INTO user_access_layer.dim_date
USING merge_source_dim_date AS src
ON dim_date.date_key = src.date_key
WHEN MATCHED THEN UPDATE SET
    calendar_date = src.calendar_date,
    year_number = src.year_number,
    quarter_number = src.quarter_number,
    month_number = src.month_number,
    day_of_month = src.day_of_month,
    day_of_week = src.day_of_week,
    is_weekend = src.is_weekend
WHEN NOT MATCHED THEN INSERT (
    date_key, calendar_date, year_number, quarter_number, month_number, day_of_month,
    day_of_week, is_weekend
) VALUES (
    src.date_key, src.calendar_date, src.year_number, src.quarter_number, src.month_number,
    src.day_of_month, src.day_of_week, src.is_weekend
);
DROP TABLE merge_source_dim_date;

