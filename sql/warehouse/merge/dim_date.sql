{% import 'warehouse/macros.jinja' as m with context %}
-- dim_date: every calendar day of a fixed range, first_day .. last_day, whatever the data holds.
-- The range is not derived from the staged dates: one outlier (a purchase in 1970, a delivery in
-- 2099) would otherwise add decades of days. The gates reject any order or review date outside
-- it (expectations/staged/orders.json, order_reviews.json, same bounds), so every fact date key
-- has its row. Only days not stored yet are inserted (a stored day is rewritten only if its
-- attributes were edited by hand), so a re-run changes nothing. Days come from a 0..9999 offset
-- table built from digits (~27 years, more than the range): generate_series runs only on
-- Redshift's leader node, and a recursive CTE would need one iteration per day.
{# Keep in step with the suites' min_value / max_value (strict) for the keyed date columns. #}
{% set first_day = '2015-01-01' %}
{% set last_day = '2035-12-31' %}
{% set columns = ['calendar_date', 'year_number', 'quarter_number', 'month_number', 'day_of_month', 'day_of_week', 'is_weekend'] %}
{% call m.merge_into('user_access_layer.dim_date', 'merge_source_dim_date') %}
WITH bounds AS (
    SELECT CAST('{{ first_day }}' AS DATE) AS first_day, CAST('{{ last_day }}' AS DATE) AS last_day
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
    SELECT {{ m.add_days('bounds.first_day', 'day_offsets.day_offset') }} AS calendar_date
    FROM bounds
    INNER JOIN day_offsets
        ON day_offsets.day_offset <= {{ m.days_between('bounds.first_day', 'bounds.last_day') }}
),

days AS (
    SELECT
        {{ m.date_key('calendar_date') }} AS date_key,
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
        OR {{ m.any_differs(columns, 'days', 'stored') }}
)

SELECT * FROM changed
{% endcall %}
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
{{ m.drop_merge_source('merge_source_dim_date') }}
