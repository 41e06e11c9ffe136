"""The README's demo on the zero-setup defaults: SQLite source, embedded PostgreSQL warehouse."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from olist_etl.db import start_embedded_postgres, stop_embedded_postgres

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_on_the_embedded_defaults(olist_home, prefect_api):
    # Arrange: only OLIST_HOME set; everything else takes its default.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    env["OLIST_HOME"] = str(olist_home)
    try:
        # Act
        proc = subprocess.run(
            [sys.executable, "-m", "olist_etl.app.cli", "demo", "--scale", "0.005", "--seed", "1"],
            capture_output=True, text=True, env=env, cwd=olist_home, timeout=900,
        )

        # Assert: the demo says OK, and the embedded warehouse's facts hold the source's rows.
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "demo OK" in proc.stdout
        assert "MISMATCH" not in proc.stdout
        source = sa.create_engine(f"sqlite:///{olist_home / 'source.sqlite'}")
        warehouse = sa.create_engine(start_embedded_postgres(olist_home / "warehouse-pg"))
        with source.connect() as src, warehouse.connect() as wh:
            for table, fact in (("orders", "fact_orders"), ("order_items", "fact_order_items"),
                                ("order_payments", "fact_payments"), ("order_reviews", "fact_reviews")):
                expected = src.execute(sa.text(f"select count(*) from {table}")).scalar_one()
                assert expected > 0
                assert wh.execute(sa.text(f"select count(*) from user_access_layer.{fact}")).scalar_one() == expected
        warehouse.dispose()
        assert (olist_home / "data_docs" / "index.html").exists()
    finally:
        stop_embedded_postgres(olist_home / "warehouse-pg")


def test_demo_refuses_a_scale_of_zero(olist_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    env["OLIST_HOME"] = str(olist_home)
    proc = subprocess.run(
        [sys.executable, "-m", "olist_etl.app.cli", "demo", "--scale", "0"],
        capture_output=True, text=True, env=env, cwd=olist_home, timeout=120,
    )
    assert proc.returncode == 1
    assert "scale" in proc.stderr
