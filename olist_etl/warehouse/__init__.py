"""Warehouse-side library code: the source-to-warehouse comparison (compare.py)."""
