"""Driving the olist-etl command line in-process against a real source and warehouse, for the
end-to-end test modules (bad inputs, the source contract, plausibility, run history)."""

from __future__ import annotations

import contextlib
import io
import json

import sqlalchemy as sa

from olist_etl.app.cli import main
from tests.helpers import table_checksums


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
