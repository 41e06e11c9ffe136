"""The sling peer: sling's Go binary (the sling-linux-<arch> wheel, in bench/.venv-sling) replicates
every source table into a fresh PostgreSQL database, full refresh, timed like dlt.

Connections reach sling as environment variables named in the replication file, so a password
never shows in a process list or in the file. HOME and SLING_HOME_DIR point into the run's work
directory: sling keeps a state database and an env.yaml under its home, and must not leave them
in the user's. Telemetry is off (there is no network here anyway).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import venvs
from common import RssSampler, check_ok, run_measured
from olist_etl.tables import TABLE_NAMES
from services import Context, pg_row_counts

SCHEMA = "olist"


def binary(python: Path) -> Path:
    """The sling executable shipped inside the venv's sling-linux-<arch> package."""
    found = sorted(python.parent.parent.glob("lib/python*/site-packages/sling_linux_*/bin/sling-linux-*"))
    if not found:
        raise FileNotFoundError(f"no sling binary in {python.parent.parent} (is the sling-linux-<arch> package installed?)")
    return found[0]


def ensure(log) -> Path:
    return binary(venvs.ensure_venv("sling", log))


def sling_env(home: Path) -> dict[str, str]:
    """Where sling keeps its state (even `sling --version` writes ~/.sling): under home, never the user's."""
    return {"HOME": str(home), "SLING_HOME_DIR": str(home / ".sling"), "SLING_DISABLE_TELEMETRY": "true"}


def version(executable: Path, home: Path) -> str:
    env = os.environ | sling_env(home)
    out = subprocess.run([str(executable), "--version"], capture_output=True, text=True, check=True, env=env, cwd=home).stdout
    return out.strip().removeprefix("Version:").strip()


def replication(source_db: str) -> dict:
    """Every Olist table of the source, full refresh into schema olist under its own name."""
    return {
        "source": "BENCH_SLING_SOURCE",
        "target": "BENCH_SLING_TARGET",
        "defaults": {"mode": "full-refresh", "object": f"{SCHEMA}.{{stream_table}}"},
        "streams": {f"{source_db}.{table}": None for table in TABLE_NAMES},
    }


def run_sling(ctx: Context, r: int) -> dict:
    label = f"sling_r{r}"
    database = ctx.services.create_warehouse(label)
    home = ctx.work / label
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "replication.json"  # JSON is YAML: sling reads it as a replication file
        config.write_text(json.dumps(replication(ctx.source_db), indent=2))
        env = ctx.env | {
            "BENCH_SLING_SOURCE": ctx.services.source_url(ctx.source_db),
            "BENCH_SLING_TARGET": ctx.services.warehouse_url(database) + "?sslmode=disable",
            **sling_env(home),
            "SLING_THREADS": str(ctx.args.sling_threads),
        }
        ctx.note_load(label)
        with RssSampler() as sampler:
            result = run_measured([str(ctx.sling_binary), "run", "-r", str(config)], env=env, cwd=home, logs=ctx.logs, name=label, sampler=sampler)
        check_ok(result, "sling run")
        counts = pg_row_counts(ctx.services, database, SCHEMA, TABLE_NAMES)
        ctx.check_counts(counts, label)
        return {"wall_s": result["wall_s"], "threads": ctx.args.sling_threads,
                "peak_rss_tree_bytes": sampler.peak, "max_rss_single_bytes": result["max_rss_single_bytes"], "loadavg_before": ctx.loads[label]}
    finally:
        ctx.services.drop_warehouse(database)
        shutil.rmtree(home, ignore_errors=True)
