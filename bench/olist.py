"""olist-etl itself: the full and incremental syncs (phases from the Prefect API), verify, and the
source changes the incremental carries."""

from __future__ import annotations

import json
import subprocess
import time

from common import OLIST_ETL, BenchError, RssSampler, check_ok, run_measured
from olist_etl.tables import TABLE_NAMES
from prefect_api import phase_times
from services import Context

# simulate-changes touches, per unit of --fraction and per order: new orders 1 + delivered 0.5 +
# shipped 0.3 + canceled 0.05 = 1.85 orders (olist_etl/source/changes.py), so 0.0054 ~ 1% of orders.
DEFAULT_CHANGE_FRACTION = 0.0054


def run_sync(ctx: Context, r: int, mode: str, database: str, variant: str | None = None) -> dict:
    """One `olist-etl sync`; variant "dask" runs it on a local Dask cluster of --dask-workers processes."""
    prefix = "olist" if variant is None else f"olist_{variant}"
    label = f"{prefix}_{mode}_r{r}"
    home = ctx.work / f"{prefix}_r{r}"
    runner = {"OLIST_DASK_WORKERS": str(ctx.args.dask_workers)} if variant == "dask" else {}
    env = ctx.env | ctx.server.env() | runner | {
        "PREFECT_HOME": str(ctx.work / "prefect-client"),
        "PREFECT_API_URL": ctx.server.api_url,
        "OLIST_HOME": str(home),
        "OLIST_SOURCE_URL": ctx.services.source_url(ctx.source_db),
        "OLIST_WAREHOUSE_URL": ctx.services.warehouse_url(database),
    }
    before = ctx.server.flow_run_ids()
    ctx.note_load(label)
    with RssSampler() as sampler:
        result = run_measured([str(OLIST_ETL), "sync", "--mode", mode, "--json"], env=env, cwd=ctx.work, logs=ctx.logs, name=label, sampler=sampler)
    check_ok(result, f"olist-etl sync --mode {mode}")
    summary = json.loads(result["stdout"])
    if summary.get("status") != "promoted":
        raise BenchError(f"{label}: the sync did not promote: {summary.get('status')}")
    new = ctx.server.flow_run_ids() - before
    if len(new) != 1:
        raise BenchError(f"{label}: expected one new olist-sync flow run on the Prefect server, found {len(new)}")
    flow_run, task_runs = ctx.server.flow_run_timeline(new.pop())
    timeline = phase_times(flow_run, task_runs)
    tables = summary["tables"]
    if mode == "full":
        ctx.check_counts({t: int(tables[t]["loaded"]) for t in TABLE_NAMES}, label)
    extracted = {t: int(tables[t]["extracted"]) for t in TABLE_NAMES}
    return {"wall_s": result["wall_s"], **timeline, "rows_extracted": extracted,
            "peak_rss_tree_bytes": sampler.peak, "max_rss_single_bytes": result["max_rss_single_bytes"], "loadavg_before": ctx.loads[label]}


def run_verify(ctx: Context, r: int, database: str) -> dict:
    """`olist-etl verify` after the incremental: the cost of proving the warehouse equals the source."""
    label = f"olist_verify_r{r}"
    env = ctx.env | {
        "OLIST_HOME": str(ctx.work / f"olist_r{r}"),
        "OLIST_SOURCE_URL": ctx.services.source_url(ctx.source_db),
        "OLIST_WAREHOUSE_URL": ctx.services.warehouse_url(database),
    }
    ctx.note_load(label)
    with RssSampler() as sampler:
        result = run_measured([str(OLIST_ETL), "verify", "--json"], env=env, cwd=ctx.work, logs=ctx.logs, name=label, sampler=sampler)
    report = json.loads(result["stdout"]) if result["stdout"].strip() else {}
    if report.get("status") != "equal":
        raise BenchError(f"{label}: verify did not find the warehouse equal to the source: {report.get('status')} (exit {result['returncode']})")
    return {"wall_s": result["wall_s"], "tables_s": {t: v["seconds"] for t, v in report["tables"].items()},
            "peak_rss_tree_bytes": sampler.peak, "max_rss_single_bytes": result["max_rss_single_bytes"], "loadavg_before": ctx.loads[label]}


def seed_source(ctx: Context) -> float:
    """`olist-etl seed-source` into ctx.source_db; its seconds."""
    started = time.perf_counter()
    seed = subprocess.run([str(OLIST_ETL), "seed-source", "--scale", str(ctx.args.scale), "--seed", str(ctx.args.seed)], cwd=ctx.work,
                          env=ctx.env | {"OLIST_HOME": str(ctx.work / "seed"), "OLIST_SOURCE_URL": ctx.services.source_url(ctx.source_db)},
                          capture_output=True, text=True)
    if seed.returncode:
        raise BenchError(f"seed-source exited with {seed.returncode}: {seed.stderr[-2000:]}")
    return time.perf_counter() - started


def simulate_changes(ctx: Context) -> dict:
    """Apply the changes once; report how many rows of each table changed and the % of orders."""
    with ctx.services.my_connect(ctx.source_db) as conn, conn.cursor() as cur:
        high = {}
        for table in TABLE_NAMES:
            cur.execute(f"SELECT MAX(updated_at) FROM `{table}`")
            high[table] = cur.fetchone()[0]
        cur.execute("SELECT COUNT(*) FROM orders")
        orders_before = cur.fetchone()[0]
    env = ctx.env | {"OLIST_HOME": str(ctx.work / "changes"), "OLIST_SOURCE_URL": ctx.services.source_url(ctx.source_db)}
    cmd = [str(OLIST_ETL), "simulate-changes", "--seed", str(ctx.args.change_seed), "--fraction", str(ctx.args.change_fraction)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ctx.work, capture_output=True, text=True)
    if proc.returncode:
        raise BenchError(f"simulate-changes exited with {proc.returncode}: {proc.stderr[-2000:]}")
    changed = {}
    with ctx.services.my_connect(ctx.source_db) as conn, conn.cursor() as cur:
        for table in TABLE_NAMES:
            cur.execute(f"SELECT COUNT(*) FROM `{table}` WHERE updated_at > %s", (high[table],))
            changed[table] = cur.fetchone()[0]
    return {"fraction": ctx.args.change_fraction, "seed": ctx.args.change_seed, "seconds": time.perf_counter() - started,
            "report": proc.stdout.strip(), "rows_changed": changed, "orders_before": orders_before,
            "orders_changed_pct": 100.0 * changed["orders"] / orders_before}
