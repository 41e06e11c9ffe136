"""The Olist source database: its schema, seeding (Kaggle CSVs or synthetic) and simulated changes."""

from olist_etl.source.changes import ChangeReport, simulate_changes
from olist_etl.source.generate import seed_synthetic
from olist_etl.source.report import RejectedRow, SeedReport
from olist_etl.source.schema import create_source_schema
from olist_etl.source.seed_csv import seed_from_csv

__all__ = [
    "ChangeReport",
    "RejectedRow",
    "SeedReport",
    "create_source_schema",
    "seed_from_csv",
    "seed_synthetic",
    "simulate_changes",
]
