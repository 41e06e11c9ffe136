"""Benchmark olist-etl against the bulk-tool floor and the EL peers dlt and sling on one seeded MariaDB source.

Run with the project's venv python (it imports olist_etl and drives the olist-etl CLI):

    python bench/run.py --scale 1 --runs 3 --out bench/results/scale-1.json

One run of this script:
  1. creates a uniquely named MariaDB database and seeds it (`olist-etl seed-source --scale S --seed 42`);
  2. starts a Prefect API server on a free loopback port (its start-up is not timed);
  3. per round r (--runs rounds): the floor (mariadb | psql per table, sequential, then the same
     pipes in parallel; floor.py), dlt (sql_database + connectorx, in bench/.venv-dlt; dlt_peer.py),
     sling (its Go binary from bench/.venv-sling; sling_peer.py) and olist-etl's full sync
     (olist.py), each into a fresh PostgreSQL database; with `olist_dask` in --contenders, olist-etl's
     full sync once more on the Dask task runner (OLIST_DASK_WORKERS=--dask-workers worker processes);
  4. applies `olist-etl simulate-changes` once (~1% of orders), then runs the incremental sync
     against each round's warehouse, so every incremental carries exactly the same changes;
  5. drops every database it created, stops the server, and writes the results JSON (medians and
     every run's raw numbers; results.py). While it runs, <out>.tmp holds the numbers so far.

Memory: each contender's process tree is polled with psutil (every 50 ms; RSS summed over the
tree, so for the floor over the pipe's processes) and also wrapped in /usr/bin/time -v (the
largest single process's max RSS, exact). Database server processes are not counted (common.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package

import sling_peer  # noqa: E402
import venvs  # noqa: E402
from common import OLIST_ETL, RSS_POLL_SECONDS, BenchError, log  # noqa: E402
from dlt_peer import run_dlt  # noqa: E402
from floor import floor_ddl, run_floor  # noqa: E402
from machine import machine_info, versions  # noqa: E402
from olist import DEFAULT_CHANGE_FRACTION, run_sync, run_verify, seed_source, simulate_changes  # noqa: E402
from prefect_api import PHASES, PrefectServer  # noqa: E402
from results import RUN_KEYS, write_results  # noqa: E402
from services import Context, Services, source_row_counts  # noqa: E402

from olist_etl.tables import TABLE_NAMES  # noqa: E402

# olist_dask is opt-in: olist-etl on the Dask task runner, for the scale-10 round.
CONTENDERS = ("floor", "dlt", "sling", "olist", "olist_dask")
DEFAULT_CONTENDERS = ("floor", "dlt", "sling", "olist")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--runs", type=int, default=3, help="rounds; every timing is the median over them")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--change-fraction", type=float, default=DEFAULT_CHANGE_FRACTION, help="simulate-changes --fraction (default ~1%% of orders)")
    parser.add_argument("--change-seed", type=int, default=7)
    parser.add_argument("--mariadb-url", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--floor-jobs", type=int, default=os.cpu_count() or 2, help="pipes at once in the parallel floor")
    parser.add_argument("--dlt-file-format", default="csv", choices=("csv", "insert_values"))
    parser.add_argument("--sling-threads", type=int, default=os.cpu_count() or 2,
                        help="SLING_THREADS: tables sling replicates at once (sling's own default is 1)")
    parser.add_argument("--dask-workers", type=int, default=os.cpu_count() or 2, help="OLIST_DASK_WORKERS for the olist_dask contender")
    parser.add_argument("--contenders", default=",".join(DEFAULT_CONTENDERS), help="comma-separated subset, for trying the harness out")
    parser.add_argument("--work-dir", type=Path, default=None, help="where temporary files go (default: the system temp dir)")
    parser.add_argument("--source-db", default=None,
                        help="a MariaDB database seeded earlier with the same --scale and --seed, never changed (not seeded, not dropped; the incremental's changes are applied to it)")
    parser.add_argument("--project-dir", type=Path, default=None,
                        help="benchmark the olist-etl code in this directory (e.g. `git archive` of a commit) instead of this checkout")
    args = parser.parse_args(argv)
    args.contender_set = set(args.contenders.split(","))
    if not args.contender_set <= set(CONTENDERS) or args.runs < 1 or args.sling_threads < 1 or args.dask_workers < 1:
        parser.error(f"--contenders takes {','.join(CONTENDERS)}; --runs, --sling-threads and --dask-workers must be >= 1")
    if Path(sys.executable).parent != OLIST_ETL.parent or not OLIST_ETL.exists():
        parser.error(f"run with the project's venv python (no olist-etl beside {sys.executable})")
    return args


def method(args: argparse.Namespace) -> dict:
    return {
        "timer": "wall clock around each contender's process (interpreter start-up included)",
        "rss": f"psutil: summed RSS of the contender's process tree polled every {RSS_POLL_SECONDS}s (peak_rss_tree_bytes); "
               "/usr/bin/time -v: largest single process (max_rss_single_bytes); database servers not counted",
        "floor": "mariadb --quick -B -N | psql \\copy per table; 'floor' sequential, 'floor_parallel' with floor_jobs pipes at once",
        "sling": f"sling run -r (every table, mode full-refresh, SLING_THREADS={args.sling_threads}) into a fresh PostgreSQL database",
        "phases": "olist-sync task runs from the Prefect API; phase = max(end) - min(start) of its tasks; "
                  "extract includes writing the gzip CSV parts, stage is the manifest, merge includes the post-merge gate",
        "phase_tasks": {phase: [f"{prefix}*" if prefix.endswith("-") else prefix for prefix in prefixes] for phase, prefixes in PHASES},
        "olist_dask": f"olist-etl sync with OLIST_DASK_WORKERS={args.dask_workers} (a local Dask cluster of that many worker processes, started by the run)",
        "incremental": "simulate-changes applied once after all full rounds; each round's incremental runs against its own full-sync warehouse",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    contenders = args.contender_set
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # SIGTERM unwinds like Ctrl-C so that the finally below drops the databases and stops the server.
    signal.signal(signal.SIGTERM, _interrupt)

    services = Services(args.mariadb_url, args.postgres_url)
    work = Path(tempfile.mkdtemp(prefix="olist-bench-", dir=args.work_dir))
    ctx = Context(args, services, work)
    results: dict = {"started_at": datetime.now(timezone.utc).isoformat(), "scale": args.scale, "seed": args.seed,
                     "runs_requested": args.runs, "contenders": sorted(contenders), "machine": machine_info(),
                     "method": method(args), "runs": {key: [] for key in RUN_KEYS}}
    warehouses: list[tuple[int, str | None, str]] = []  # (round, runner variant, database) per full sync
    exit_code = 1
    try:
        if "dlt" in contenders:
            ctx.dlt_python = venvs.ensure_venv("dlt", log)
        if "sling" in contenders:
            ctx.sling_binary = sling_peer.ensure(log)
        results["versions"] = versions(services, venvs.freeze("dlt") if "dlt" in contenders else {},
                                       sling_peer.version(ctx.sling_binary, work) if ctx.sling_binary else None, args.project_dir)
        log(f"machine: {results['machine']}")
        log(f"versions: {results['versions']}")

        if args.source_db:
            # Seeded before (same --scale and --seed, never changed since); kept after the run.
            ctx.source_db = args.source_db
            results["source_db_reused"] = args.source_db
            log(f"reusing the seeded MariaDB database {ctx.source_db} (scale {args.scale} assumed)")
        else:
            ctx.source_db = services.create_source()
            log(f"seeding MariaDB database {ctx.source_db} at scale {args.scale}")
            results["seed_seconds"] = seed_source(ctx)
        ctx.source_rows = source_row_counts(services, ctx.source_db)
        results["rows_per_table"] = ctx.source_rows
        log(f"source rows: {ctx.source_rows}")
        ctx.floor_ddl = floor_ddl(services, ctx.source_db)
        # One untimed read of every table first, so no contender pays for a cold buffer pool alone.
        for table in TABLE_NAMES:
            subprocess.run(["mariadb", "--quick", "-B", "-N", *services.mariadb_args(ctx.source_db), "-e", f"SELECT * FROM `{table}`"],
                           env=ctx.env, stdout=subprocess.DEVNULL, check=True)

        if contenders & {"olist", "olist_dask"}:
            (work / "prefect-server").mkdir()
            ctx.server = PrefectServer(work / "prefect-server")
            results["prefect_server_start_seconds"] = ctx.server.start()
            log(f"Prefect API at {ctx.server.api_url}")

        for r in range(1, args.runs + 1):
            run_round(ctx, results, r, warehouses)
            write_results(results, args.out)

        if contenders & {"olist", "olist_dask"}:
            results["changes"] = simulate_changes(ctx)
            log(f"simulate-changes: {results['changes']['orders_changed_pct']:.2f}% of orders changed; {results['changes']['rows_changed']}")
            for r, variant, database in warehouses:
                key = "olist" if variant is None else f"olist_{variant}"
                run = run_sync(ctx, r, "incremental", database, variant)
                results["runs"][f"{key}_incremental"].append(run)
                log(f"round {r} {key} incremental: {run['wall_s']:.1f}s {_rounded(run['phases_s'])}")
                if variant is None:
                    run = run_verify(ctx, r, database)
                    results["runs"]["olist_verify"].append(run)
                    log(f"round {r} olist verify: {run['wall_s']:.1f}s {_rounded(run['tables_s'])}")
                write_results(results, args.out)

        results["finished_at"] = datetime.now(timezone.utc).isoformat()
        results["complete"] = True
        tmp = write_results(results, args.out)
        os.replace(tmp, args.out)
        log(f"wrote {args.out}")
        exit_code = 0
    except BenchError as err:
        log(f"error: {err}")
    except KeyboardInterrupt:
        log("interrupted")
        exit_code = 130
    finally:
        if ctx.server is not None:
            ctx.server.stop()
        services.close()
        if exit_code == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            # Partial numbers stay in <out>.tmp; the logs stay for the post-mortem.
            log(f"logs kept in {ctx.logs}")
            for sub in work.iterdir():
                if sub.name != "logs":
                    shutil.rmtree(sub, ignore_errors=True)
    return exit_code


def run_round(ctx: Context, results: dict, r: int, warehouses: list[tuple[int, str | None, str]]) -> None:
    """One round: each selected contender once, EL peers before olist-etl's full sync."""
    contenders, runs = ctx.args.contender_set, results["runs"]
    if "floor" in contenders:
        run = run_floor(ctx, r, parallel=False)
        runs["floor"].append(run)
        log(f"round {r} floor: {run['wall_s']:.1f}s, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")
        run = run_floor(ctx, r, parallel=True)
        runs["floor_parallel"].append(run)
        log(f"round {r} floor, {ctx.args.floor_jobs} at once: {run['wall_s']:.1f}s")
    if "dlt" in contenders:
        run = run_dlt(ctx, r)
        runs["dlt"].append(run)
        log(f"round {r} dlt: {run['wall_s']:.1f}s {run['steps_s']}, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")
    if "sling" in contenders:
        run = sling_peer.run_sling(ctx, r)
        runs["sling"].append(run)
        log(f"round {r} sling: {run['wall_s']:.1f}s, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")
    if "olist" in contenders:
        database = ctx.services.create_warehouse(f"olist_r{r}")
        warehouses.append((r, None, database))
        run = run_sync(ctx, r, "full", database)
        runs["olist_full"].append(run)
        log(f"round {r} olist full: {run['wall_s']:.1f}s {_rounded(run['phases_s'])}, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")
    if "olist_dask" in contenders:
        database = ctx.services.create_warehouse(f"olist_dask_r{r}")
        warehouses.append((r, "dask", database))
        run = run_sync(ctx, r, "full", database, "dask")
        runs["olist_dask_full"].append(run)
        log(f"round {r} olist on Dask full: {run['wall_s']:.1f}s {_rounded(run['phases_s'])}, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _rounded(values: dict) -> dict:
    return {k: round(v, 1) for k, v in values.items()}


if __name__ == "__main__":
    sys.exit(main())
