-- The high watermark of every source table promoted at least once.
SELECT table_name, high_watermark
FROM etl_control.watermarks;
