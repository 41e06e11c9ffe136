"""Driving the olist-etl command line in-process against a real source and warehouse, for the
end-to-end test modules, and reading back what a sync left in the source and the warehouse."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.settings import Settings
from olist_etl.tables import TABLE_NAMES
from tests.support.services import make_settings, mariadb_database, postgres_database
from tests.support.tables import table_checksums


def cli(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def cli_json_err(*args: str) -> tuple[int, dict, str]:
    """A command given --json: its exit code, the one JSON object it printed, and its stderr."""
    code, out, err = cli(*args)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"exit {code}, stdout {out!r}, stderr tail {err[-3000:]}"
    return code, json.loads(lines[0]), err


def cli_json(*args: str) -> tuple[int, dict]:
    code, summary, _ = cli_json_err(*args)
    return code, summary


def sync(mode: str) -> tuple[int, dict]:
    return cli_json("sync", "--mode", mode, "--json")


class Pipeline:
    """The source and the warehouse of one test module's pipeline."""

    def __init__(self, env: dict):
        self.env = env
        self.source = sa.create_engine(env["OLIST_SOURCE_URL"])
        self.warehouse = sa.create_engine(env["OLIST_WAREHOUSE_URL"])

    def state(self) -> dict:
        """What a blocked run must leave unchanged: the star schema, the watermarks, the promoted runs."""
        with self.warehouse.connect() as conn:
            marks = conn.execute(sa.text("select table_name, high_watermark, run_id from etl_control.watermarks order by 1")).all()
            runs = conn.execute(sa.text("select run_id from etl_control.runs where status = 'promoted' order by 1")).all()
        return {"star": table_checksums(self.warehouse, "user_access_layer"), "watermarks": marks, "runs": runs}

    def one(self, sql: str, **params):
        with self.source.connect() as conn:
            return conn.execute(sa.text(sql), params).one()

    def execute(self, *statements: str, **params) -> None:
        with self.source.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), params)


# --- whole syncs through the CLI, and what they leave in source and warehouse ----------------

FACT_OF = {"orders": "fact_orders", "order_items": "fact_order_items", "order_payments": "fact_payments", "order_reviews": "fact_reviews"}


def source_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"select count(*) from `{t}`")).scalar_one() for t in TABLE_NAMES}
    engine.dispose()
    return counts


def fact_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {src: conn.execute(sa.text(f"select count(*) from user_access_layer.{fact}")).scalar_one() for src, fact in FACT_OF.items()}
    engine.dispose()
    return counts


def watermarks(url: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("select table_name, high_watermark from etl_control.watermarks")).all())
    engine.dispose()
    return rows


def assert_facts_match_source(env: dict) -> None:
    source = source_counts(env["OLIST_SOURCE_URL"])
    facts = fact_counts(env["OLIST_WAREHOUSE_URL"])
    assert facts == {t: source[t] for t in FACT_OF}


def purchase_days(source_url: str) -> list[date]:
    engine = sa.create_engine(source_url)
    with engine.connect() as conn:
        days = sorted({t.date() for t in conn.execute(sa.text("select order_purchase_timestamp from orders")).scalars() if t})
    engine.dispose()
    return days


def run_ok(*args: str) -> None:
    code = main(list(args))
    assert code == 0, f"olist-etl {' '.join(args)} exited {code}"


@contextlib.contextmanager
def synced_warehouse(home: Path) -> Iterator[tuple[sa.Engine, sa.Engine, Settings, str]]:
    """MariaDB source -> full sync -> changes (one order with items canceled) -> incremental sync
    into PostgreSQL, through the command line. Needs the prefect_api fixture.

    Yields (source engine, warehouse engine, settings, canceled order id).
    """
    with mariadb_database() as source_url, postgres_database() as warehouse_url, pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "OLIST_HOME": str(home),
            "OLIST_SOURCE_URL": source_url,
            "OLIST_WAREHOUSE_URL": warehouse_url,
            "OLIST_STAGING_URL": (home / "staging").as_uri(),
        }.items():
            mp.setenv(key, value)
        run_ok("seed-source", "--scale", "0.01", "--seed", "3")
        run_ok("sync", "--mode", "full", "--json")
        run_ok("simulate-changes", "--seed", "4")
        source = sa.create_engine(source_url)
        with source.begin() as conn:
            # A delivered order with items becomes canceled: its revenue must leave the views.
            canceled = conn.execute(
                sa.text(
                    "select o.order_id from orders o join order_items i on i.order_id = o.order_id "
                    "where o.order_status = 'delivered' order by o.order_id limit 1"
                )
            ).scalar_one()
            conn.execute(
                sa.text("update orders set order_status = 'canceled' where order_id = :id"),  # the server moves updated_at
                {"id": canceled},
            )
        run_ok("sync", "--mode", "incremental", "--json")
        warehouse = sa.create_engine(warehouse_url)
        settings = make_settings(home, source_url=source_url, warehouse_url=warehouse_url)
        try:
            yield source, warehouse, settings, canceled
        finally:
            source.dispose()
            warehouse.dispose()
