"""Benchmark olist-etl against the bulk-tool floor and dlt on one seeded MariaDB source.

Run with the project's venv python (it imports olist_etl and drives the olist-etl CLI):

    python bench/run.py --scale 1 --runs 3 --out bench/results/scale-1.json

One run of this script:
  1. creates a uniquely named MariaDB database and seeds it (`olist-etl seed-source --scale S --seed 42`);
  2. starts a Prefect API server on a free loopback port (its start-up is not timed);
  3. per round r (--runs rounds): the floor (mariadb | psql per table, sequential, then the same
     pipes in parallel), dlt (sql_database + connectorx, in bench/.venv-dlt), and olist-etl's
     full sync, each into a fresh PostgreSQL database;
  4. applies `olist-etl simulate-changes` once (~1% of orders), then runs the incremental sync
     against each round's warehouse, so every incremental carries exactly the same changes;
  5. drops every database it created, stops the server, and writes the results JSON (medians and
     every run's raw numbers). While it runs, <out>.tmp holds the numbers so far.

Memory: each contender's process tree is polled with psutil (every 50 ms; RSS summed over the
tree, so for the floor over the pipe's processes) and also wrapped in /usr/bin/time -v (the
largest single process's max RSS, exact). Database server processes are not counted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psutil
import psycopg
import pymysql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import venvs  # noqa: E402  (bench/ is not a package)

from olist_etl.tables import TABLE_NAMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
OLIST_ETL = BIN / "olist-etl"
PREFECT = BIN / "prefect"
GNU_TIME = Path("/usr/bin/time")
RSS_POLL_SECONDS = 0.05
SERVER_START_SECONDS = 120
TASK_RUNS_SETTLE_SECONDS = 120

# simulate-changes touches, per unit of --fraction and per order: new orders 1 + delivered 0.5 +
# shipped 0.3 + canceled 0.05 = 1.85 orders (olist_etl/source/changes.py), so 0.0054 ~ 1% of orders.
DEFAULT_CHANGE_FRACTION = 0.0054

# olist-sync task run names -> benchmark phase; "extract" includes writing the gzip CSV parts
# (the extract task streams rows straight into the staging area), "stage" is the run manifest.
PHASES = (
    ("setup", ("create-warehouse", "read-watermarks")),
    ("gate 0", ("gate-source-columns",)),
    ("extract", ("extract-",)),
    ("stage", ("write-manifest",)),
    ("gate 1", ("gate-staged-parts",)),
    ("load", ("load-",)),
    ("gate 2", ("gate-delta-tables",)),
    ("merge", ("promote",)),
    ("docs", ("publish-run-artifacts",)),
)
PHASE_NAMES = [name for name, _ in PHASES]


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# Measuring processes


class RssSampler:
    """Peak of the summed RSS of every process under the registered roots, polled in a thread."""

    def __init__(self) -> None:
        self.roots: dict[int, psutil.Process] = {}
        self.peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def add(self, pid: int) -> None:
        with contextlib.suppress(psutil.NoSuchProcess):
            with self._lock:
                self.roots[pid] = psutil.Process(pid)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(RSS_POLL_SECONDS)

    def sample(self) -> None:
        with self._lock:
            roots = list(self.roots.values())
        total = 0
        for root in roots:
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    total += proc.memory_info().rss
        self.peak = max(self.peak, total)


def run_measured(cmd: list[str], *, env: dict, cwd: Path, logs: Path, name: str, sampler: RssSampler) -> dict:
    """Run cmd under /usr/bin/time -v; wall seconds, exit code, stdout and the largest process's max RSS."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err, timing = logs / f"{name}.out", logs / f"{name}.err", logs / f"{name}.time"
    wrapped = [str(GNU_TIME), "-v", "-o", str(timing), *cmd] if GNU_TIME.exists() else cmd
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(wrapped, env=env, cwd=cwd, stdout=stdout, stderr=stderr, start_new_session=True)
        sampler.add(proc.pid)
        try:
            code = proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
        wall = time.perf_counter() - started
    single = None
    if timing.exists():
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing.read_text(errors="replace"))
        single = int(match.group(1)) * 1024 if match else None
    return {"wall_s": wall, "returncode": code, "stdout": out.read_text(errors="replace"), "stderr_log": err, "max_rss_single_bytes": single}


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a process group this script started (its own session): SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def check_ok(result: dict, what: str) -> None:
    if result["returncode"] != 0:
        tail = Path(result["stderr_log"]).read_text(errors="replace")[-3000:]
        raise BenchError(f"{what} exited with {result['returncode']}; stderr (last 3000 chars):\n{tail}")


# --------------------------------------------------------------------------------------------
# Databases


class Services:
    """The MariaDB and PostgreSQL servers, and every database this run created (dropped at close)."""

    def __init__(self, mariadb_url: str, postgres_url: str):
        self.my = make_url(mariadb_url)
        self.pg = make_url(postgres_url)
        self.tag = uuid.uuid4().hex[:8]
        self.my_databases: list[str] = []
        self.pg_databases: list[str] = []

    # URLs for each consumer
    def source_url(self, database: str) -> str:
        return self.my.set(drivername="mysql", database=database).render_as_string(hide_password=False)

    def source_sqlalchemy_url(self, database: str) -> str:
        return self.my.set(drivername="mysql+pymysql", database=database).render_as_string(hide_password=False)

    def warehouse_url(self, database: str, password_required: bool = False) -> str:
        url = self.pg.set(drivername="postgresql", database=database)
        if password_required and not url.password:
            # dlt's PostgreSQL credentials insist on a password; a server with trust auth ignores it.
            url = url.set(password="unused")
        return url.render_as_string(hide_password=False)

    def my_connect(self, database: str | None = None):
        return pymysql.connect(host=self.my.host or "127.0.0.1", port=self.my.port or 3306, user=self.my.username or "root",
                               password=self.my.password or "", database=database, autocommit=True, charset="utf8mb4")

    def pg_connect(self, database: str = "postgres"):
        return psycopg.connect(self.pg.set(drivername="postgresql", database=database).render_as_string(hide_password=False), autocommit=True)

    def client_env(self) -> dict[str, str]:
        """Passwords for the mariadb and psql clients, through the environment rather than argv."""
        env = {}
        if self.my.password:
            env["MYSQL_PWD"] = self.my.password
        if self.pg.password:
            env["PGPASSWORD"] = self.pg.password
        return env

    def mariadb_args(self, database: str) -> list[str]:
        return ["-h", self.my.host or "127.0.0.1", "-P", str(self.my.port or 3306), "-u", self.my.username or "root", database]

    def psql_args(self, database: str) -> list[str]:
        return ["-h", self.pg.host or "127.0.0.1", "-p", str(self.pg.port or 5432), "-U", self.pg.username or "postgres", "-d", database]

    def create_source(self) -> str:
        name = f"bench_src_{self.tag}"
        with self.my_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        self.my_databases.append(name)
        return name

    def create_warehouse(self, label: str) -> str:
        name = f"bench_{label}_{self.tag}"
        with self.pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.pg_databases.append(name)
        return name

    def drop_warehouse(self, name: str) -> None:
        with self.pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.pg_databases.remove(name)

    def close(self) -> None:
        for name in list(self.pg_databases):
            try:
                self.drop_warehouse(name)
            except Exception as err:  # keep dropping the others
                log(f"could not drop PostgreSQL database {name}: {err}")
        for name in list(self.my_databases):
            try:
                with self.my_connect() as conn, conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                self.my_databases.remove(name)
            except Exception as err:
                log(f"could not drop MariaDB database {name}: {err}")


def source_row_counts(services: Services, database: str) -> dict[str, int]:
    with services.my_connect(database) as conn, conn.cursor() as cur:
        counts = {}
        for table in TABLE_NAMES:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            counts[table] = cur.fetchone()[0]
        return counts


def pg_row_counts(services: Services, database: str, schema: str, tables) -> dict[str, int]:
    with services.pg_connect(database) as conn:
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{t}"').fetchone()[0] for t in tables}


# MariaDB column type -> PostgreSQL type of the floor's plain tables.
_TYPE_MAP = (
    (r"^char\((\d+)\)$", lambda m: f"char({m[1]})"),
    (r"^varchar\((\d+)\)$", lambda m: f"varchar({m[1]})"),
    (r"^(tiny|medium|long)?text$", lambda m: "text"),
    (r"^(tinyint|smallint)(\(\d+\))?( unsigned)?$", lambda m: "smallint"),
    (r"^(mediumint|int)(\(\d+\))?$", lambda m: "integer"),
    (r"^(int(\(\d+\))? unsigned|bigint(\(\d+\))?( unsigned)?)$", lambda m: "bigint"),
    (r"^decimal\((\d+),(\d+)\)( unsigned)?$", lambda m: f"numeric({m[1]},{m[2]})"),
    (r"^double$", lambda m: "double precision"),
    (r"^float$", lambda m: "real"),
    (r"^datetime\((\d)\)$", lambda m: f"timestamp({m[1]})"),
    (r"^datetime$", lambda m: "timestamp"),
    # updated_at is TIMESTAMP(6) (an instant; the dump reads it in the session's UTC).
    (r"^timestamp\((\d)\)$", lambda m: f"timestamp({m[1]})"),
    (r"^timestamp$", lambda m: "timestamp"),
    (r"^date$", lambda m: "date"),
)


def floor_ddl(services: Services, database: str) -> dict[str, str]:
    """CREATE TABLE for each source table, same columns in the same order, no keys or indexes."""
    ddl = {}
    with services.my_connect(database) as conn, conn.cursor() as cur:
        for table in TABLE_NAMES:
            cur.execute(
                "SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (database, table),
            )
            columns = []
            for column, column_type in cur.fetchall():
                for pattern, render in _TYPE_MAP:
                    match = re.match(pattern, column_type.lower())
                    if match:
                        columns.append(f'"{column}" {render(match)}')
                        break
                else:
                    raise BenchError(f"floor: no PostgreSQL type for {table}.{column} of MariaDB type {column_type!r}")
            ddl[table] = f'CREATE TABLE "{table}" ({", ".join(columns)})'
    return ddl


# --------------------------------------------------------------------------------------------
# Prefect API server


class PrefectServer:
    def __init__(self, home: Path):
        self.home = home
        self.port = _free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {"PREFECT_HOME": str(self.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}

    def start(self) -> float:
        started = time.perf_counter()
        log_file = self.home / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | self.env()
        with log_file.open("wb") as out:
            self.proc = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                                         env=env, cwd=self.home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"prefect server exited with {self.proc.returncode}:\n{log_file.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api_url}/health", timeout=5).status_code == 200:
                    return time.perf_counter() - started
            time.sleep(0.5)
        raise BenchError(f"prefect server not healthy after {SERVER_START_SECONDS}s:\n{log_file.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)

    def post(self, path: str, body: dict) -> list[dict]:
        response = httpx.post(f"{self.api_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def flow_run_ids(self) -> set[str]:
        return {r["id"] for r in self.post("/flow_runs/filter", {"flows": {"name": {"any_": ["olist-sync"]}}, "limit": 200})}

    def flow_run_timeline(self, flow_run_id: str) -> tuple[dict, list[dict]]:
        """The flow run and its task runs, once every task run has ended and the count is stable."""
        deadline = time.monotonic() + TASK_RUNS_SETTLE_SECONDS
        previous = None
        while True:
            run = httpx.get(f"{self.api_url}/flow_runs/{flow_run_id}", timeout=30).json()
            tasks = self.post("/task_runs/filter", {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200})
            # Task states reach the server as events, a little after the process that ran them exits.
            signature = sorted((t["id"], t["end_time"]) for t in tasks)
            done = run.get("end_time") and tasks and all(t["end_time"] for t in tasks)
            if done and signature == previous:
                return run, tasks
            if time.monotonic() > deadline:
                raise BenchError(f"flow run {flow_run_id}: task runs still not all ended after {TASK_RUNS_SETTLE_SECONDS}s")
            previous = signature
            time.sleep(1.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def phase_times(flow_run: dict, task_runs: list[dict]) -> dict:
    """Per phase: wall seconds = max(end) - min(start) of its tasks; unmapped task names listed."""
    phases, unmapped = {}, []
    spans: dict[str, list[tuple[float, float]]] = {name: [] for name in PHASE_NAMES}
    for task in task_runs:
        if not task["start_time"]:
            continue  # never ran (e.g. a cached or cancelled task)
        span = (_ts(task["start_time"]), _ts(task["end_time"]))
        for phase, prefixes in PHASES:
            if task["name"].startswith(prefixes):
                spans[phase].append(span)
                break
        else:
            unmapped.append(task["name"])
    for phase, items in spans.items():
        if items:
            phases[phase] = max(e for _, e in items) - min(s for s, _ in items)
    flow_s = _ts(flow_run["end_time"]) - _ts(flow_run["start_time"])
    tasks = sorted(
        ({"name": t["name"], "start": _ts(t["start_time"]) - _ts(flow_run["start_time"]), "seconds": _ts(t["end_time"]) - _ts(t["start_time"])}
         for t in task_runs if t["start_time"]),
        key=lambda t: t["start"],
    )
    return {"flow_run_s": flow_s, "phases_s": phases, "unmapped_tasks": unmapped, "tasks": tasks}


# --------------------------------------------------------------------------------------------
# Contenders


def floor_pipe(services: Services, source_db: str, warehouse_db: str, table: str) -> list[str]:
    """The floor for one table: `mariadb -B -N | psql \\copy`, a tab-separated text pipe.

    Not a correct loader, only the bound on what the two bulk tools can move: mariadb prints SQL
    NULL as the bare word NULL (read back with NULL 'NULL', so a real string 'NULL' would become
    NULL) and escapes tab, newline and backslash as \\t \\n \\\\, which COPY's text format reads
    the same way, but not carriage return, which COPY refuses raw (review comments have CRLFs):
    sed writes it as \\r. There is no staging, no check and no merge.
    """
    mariadb = ["mariadb", "--quick", "-B", "-N", *services.mariadb_args(source_db), "-e", f"SELECT * FROM `{table}`"]
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *services.psql_args(warehouse_db), "-c", f"\\copy \"{table}\" FROM STDIN WITH (FORMAT text, NULL 'NULL')"]
    sed = ["sed", "s/\\r/\\\\r/g"]
    return ["bash", "-o", "pipefail", "-c", f"{shlex.join(mariadb)} | {shlex.join(sed)} | {shlex.join(psql)}"]


def run_floor(ctx: "Context", r: int, parallel: bool) -> dict:
    label = f"floorpar_r{r}" if parallel else f"floor_r{r}"
    database = ctx.services.create_warehouse(label)
    try:
        with ctx.services.pg_connect(database) as conn:
            for statement in ctx.floor_ddl.values():
                conn.execute(statement)
        per_table, singles = {}, []
        logs = ctx.logs / label

        def one(table: str) -> None:
            result = run_measured(floor_pipe(ctx.services, ctx.source_db, database, table), env=ctx.env, cwd=ctx.work,
                                  logs=logs, name=table, sampler=sampler)
            check_ok(result, f"floor pipe for {table}")
            per_table[table] = result["wall_s"]
            singles.append(result["max_rss_single_bytes"] or 0)

        ctx.note_load(label)
        with RssSampler() as sampler:
            started = time.perf_counter()
            if parallel:
                with concurrent.futures.ThreadPoolExecutor(ctx.args.floor_jobs) as pool:
                    list(pool.map(one, TABLE_NAMES))
            else:
                for table in TABLE_NAMES:
                    one(table)
            total = time.perf_counter() - started
        counts = pg_row_counts(ctx.services, database, "public", TABLE_NAMES)
        ctx.check_counts(counts, label)
        return {"wall_s": total, "per_table_s": per_table, "peak_rss_tree_bytes": sampler.peak,
                "max_rss_single_bytes": max(singles), "jobs": ctx.args.floor_jobs if parallel else 1, "loadavg_before": ctx.loads[label]}
    finally:
        ctx.services.drop_warehouse(database)


def run_dlt(ctx: "Context", r: int) -> dict:
    label = f"dlt_r{r}"
    database = ctx.services.create_warehouse(label)
    try:
        pipelines = ctx.work / label / "pipelines"
        env = ctx.env | {
            "BENCH_SOURCE_URL": ctx.services.source_sqlalchemy_url(ctx.source_db),
            "BENCH_CONNECTORX_URL": ctx.services.source_url(ctx.source_db),
            "BENCH_DEST_URL": ctx.services.warehouse_url(database, password_required=True),
            "DLT_DATA_DIR": str(ctx.work / label / "data"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        ctx.note_load(label)
        with RssSampler() as sampler:
            result = run_measured([str(ctx.dlt_python), str(BENCH / "dlt_load.py"), "--pipelines-dir", str(pipelines),
                                   "--file-format", ctx.args.dlt_file_format], env=env, cwd=ctx.work, logs=ctx.logs, name=label, sampler=sampler)
        check_ok(result, "the dlt pipeline")
        report = json.loads(result["stdout"].strip().splitlines()[-1])
        counts = pg_row_counts(ctx.services, database, "olist", TABLE_NAMES)
        ctx.check_counts(counts, label)
        return {"wall_s": result["wall_s"], "steps_s": report["steps"], "file_format": report["file_format"],
                "peak_rss_tree_bytes": sampler.peak, "max_rss_single_bytes": result["max_rss_single_bytes"], "loadavg_before": ctx.loads[label]}
    finally:
        ctx.services.drop_warehouse(database)
        shutil.rmtree(ctx.work / label, ignore_errors=True)


def run_sync(ctx: "Context", r: int, mode: str, database: str) -> dict:
    label = f"olist_{mode}_r{r}"
    home = ctx.work / f"olist_r{r}"
    env = ctx.env | ctx.server.env() | {
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


def run_verify(ctx: "Context", r: int, database: str) -> dict:
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


def simulate_changes(ctx: "Context") -> dict:
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


# --------------------------------------------------------------------------------------------
# Machine and versions


def machine_info() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))}, kernel {platform.release()}"
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
            "ram_bytes": psutil.virtual_memory().total, "os": os_name, "loadavg_at_start": os.getloadavg()}


def _first_line(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[0]
    return "unknown"


def versions(services: Services, dlt_versions: dict[str, str], project_dir: Path | None) -> dict:
    import great_expectations
    import prefect
    import sqlalchemy

    with services.my_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        mariadb = cur.fetchone()[0]
    with services.pg_connect() as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    commit = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip())
    return {
        "python": platform.python_version(),
        "olist_etl_code": str(project_dir) if project_dir else f"checkout {commit}" + (" with uncommitted changes" if dirty else ""),
        "mariadb_server": mariadb,
        "mariadb_client": _first_line(["mariadb", "--version"]),
        "postgres_server": postgres,
        "psql": _first_line(["psql", "--version"]),
        "prefect": prefect.__version__,
        "great_expectations": great_expectations.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "pymysql": pymysql.__version__,
        "psycopg": psycopg.__version__,
        "dlt": dlt_versions.get("dlt"),
        "connectorx": dlt_versions.get("connectorx"),
        "pyarrow_dlt_venv": dlt_versions.get("pyarrow"),
        "dlt_venv_python": _first_line([str(venvs.venv_python("dlt")), "--version"]),
    }


# --------------------------------------------------------------------------------------------
# Orchestration


class Context:
    def __init__(self, args, services: Services, work: Path):
        self.args = args
        self.services = services
        self.work = work
        self.logs = work / "logs"
        self.source_db = ""
        self.source_rows: dict[str, int] = {}
        self.floor_ddl: dict[str, str] = {}
        self.server: PrefectServer | None = None
        self.dlt_python: Path | None = None
        self.loads: dict[str, tuple] = {}
        # No OLIST_* or PREFECT_* from the caller's shell: every contender sees only what is set here.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OLIST_", "PREFECT_"))} | services.client_env()
        if args.project_dir:
            # Ahead of the venv's editable install of this checkout: olist_etl, flows, tasks, sql/ from there.
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.project_dir.resolve()), self.env.get("PYTHONPATH")]))

    def note_load(self, label: str) -> None:
        self.loads[label] = os.getloadavg()

    def check_counts(self, counts: dict[str, int], label: str) -> None:
        wrong = {t: (counts.get(t), n) for t, n in self.source_rows.items() if counts.get(t) != n}
        if wrong:
            raise BenchError(f"{label}: row counts differ from the source (loaded, source): {wrong}")


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def medians(results: dict) -> dict:
    """Median over runs of every timing and memory figure, contender by contender."""
    out: dict = {}
    for name, runs in results["runs"].items():
        if not runs:
            continue
        entry = {key: median([run[key] for run in runs]) for key in ("wall_s", "peak_rss_tree_bytes", "max_rss_single_bytes", "flow_run_s")
                 if all(key in run for run in runs)}
        for nested in ("phases_s", "steps_s", "per_table_s"):
            if all(nested in run for run in runs):
                keys = sorted({k for run in runs for k in run[nested]})
                entry[nested] = {k: median([run[nested].get(k) for run in runs]) for k in keys}
        if "phases_s" in entry:
            entry["extract_stage_load_s"] = median([sum(run["phases_s"].get(p, 0.0) for p in ("extract", "stage", "load")) for run in runs])
        out[name] = entry
    return out


def write_results(results: dict, path: Path) -> Path:
    """Write the numbers so far to <out>.tmp (renamed to <out> once the run is complete)."""
    results["medians"] = medians(results)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    return tmp


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--contenders", default="floor,dlt,olist", help="comma-separated subset, for trying the harness out")
    parser.add_argument("--work-dir", type=Path, default=None, help="where temporary files go (default: the system temp dir)")
    parser.add_argument("--source-db", default=None,
                        help="a MariaDB database seeded earlier with the same --scale and --seed, never changed (not seeded, not dropped; the incremental's changes are applied to it)")
    parser.add_argument("--project-dir", type=Path, default=None,
                        help="benchmark the olist-etl code in this directory (e.g. `git archive` of a commit) instead of this checkout")
    args = parser.parse_args(argv)
    contenders = set(args.contenders.split(","))
    if not contenders <= {"floor", "dlt", "olist"} or args.runs < 1:
        parser.error("--contenders takes floor,dlt,olist; --runs must be >= 1")
    if Path(sys.executable).parent != OLIST_ETL.parent or not OLIST_ETL.exists():
        parser.error(f"run with the project's venv python (no olist-etl beside {sys.executable})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # SIGTERM unwinds like Ctrl-C so that the finally below drops the databases and stops the server.
    signal.signal(signal.SIGTERM, _interrupt)

    services = Services(args.mariadb_url, args.postgres_url)
    work = Path(tempfile.mkdtemp(prefix="olist-bench-", dir=args.work_dir))
    ctx = Context(args, services, work)
    results: dict = {"started_at": datetime.now(timezone.utc).isoformat(), "scale": args.scale, "seed": args.seed,
                     "runs_requested": args.runs, "contenders": sorted(contenders), "machine": machine_info(),
                     "method": {
                         "timer": "wall clock around each contender's process (interpreter start-up included)",
                         "rss": f"psutil: summed RSS of the contender's process tree polled every {RSS_POLL_SECONDS}s (peak_rss_tree_bytes); "
                                "/usr/bin/time -v: largest single process (max_rss_single_bytes); database servers not counted",
                         "floor": "mariadb --quick -B -N | psql \\copy per table; 'floor' sequential, 'floor_parallel' with floor_jobs pipes at once",
                         "phases": "olist-sync task runs from the Prefect API; phase = max(end) - min(start) of its tasks; "
                                   "extract includes writing the gzip CSV parts, stage is the manifest, merge includes the post-merge gate",
                         "phase_tasks": {phase: [f"{prefix}*" if prefix.endswith("-") else prefix for prefix in prefixes] for phase, prefixes in PHASES},
                         "incremental": "simulate-changes applied once after all full rounds; each round's incremental runs against its own full-sync warehouse",
                     },
                     "runs": {"floor": [], "floor_parallel": [], "dlt": [], "olist_full": [], "olist_incremental": [], "olist_verify": []}}
    warehouses: list[str] = []
    exit_code = 1
    try:
        if "dlt" in contenders:
            ctx.dlt_python = venvs.ensure_venv("dlt", log)
        results["versions"] = versions(services, venvs.freeze("dlt") if "dlt" in contenders else {}, args.project_dir)
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
            started = time.perf_counter()
            seed = subprocess.run([str(OLIST_ETL), "seed-source", "--scale", str(args.scale), "--seed", str(args.seed)], cwd=work,
                                  env=ctx.env | {"OLIST_HOME": str(work / "seed"), "OLIST_SOURCE_URL": services.source_url(ctx.source_db)},
                                  capture_output=True, text=True)
            if seed.returncode:
                raise BenchError(f"seed-source exited with {seed.returncode}: {seed.stderr[-2000:]}")
            results["seed_seconds"] = time.perf_counter() - started
        ctx.source_rows = source_row_counts(services, ctx.source_db)
        results["rows_per_table"] = ctx.source_rows
        log(f"source rows: {ctx.source_rows}")
        ctx.floor_ddl = floor_ddl(services, ctx.source_db)
        # One untimed read of every table first, so no contender pays for a cold buffer pool alone.
        for table in TABLE_NAMES:
            subprocess.run(["mariadb", "--quick", "-B", "-N", *services.mariadb_args(ctx.source_db), "-e", f"SELECT * FROM `{table}`"],
                           env=ctx.env, stdout=subprocess.DEVNULL, check=True)

        if "olist" in contenders:
            (work / "prefect-server").mkdir()
            ctx.server = PrefectServer(work / "prefect-server")
            results["prefect_server_start_seconds"] = ctx.server.start()
            log(f"Prefect API at {ctx.server.api_url}")

        for r in range(1, args.runs + 1):
            if "floor" in contenders:
                run = run_floor(ctx, r, parallel=False)
                results["runs"]["floor"].append(run)
                log(f"round {r} floor: {run['wall_s']:.1f}s, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")
                run = run_floor(ctx, r, parallel=True)
                results["runs"]["floor_parallel"].append(run)
                log(f"round {r} floor, {args.floor_jobs} at once: {run['wall_s']:.1f}s")
            if "dlt" in contenders:
                run = run_dlt(ctx, r)
                results["runs"]["dlt"].append(run)
                log(f"round {r} dlt: {run['wall_s']:.1f}s {run['steps_s']}, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")
            if "olist" in contenders:
                database = services.create_warehouse(f"olist_r{r}")
                warehouses.append(database)
                run = run_sync(ctx, r, "full", database)
                results["runs"]["olist_full"].append(run)
                log(f"round {r} olist full: {run['wall_s']:.1f}s {_rounded(run['phases_s'])}, peak RSS {run['peak_rss_tree_bytes'] / 2**20:.0f} MiB")
            write_results(results, args.out)

        if "olist" in contenders:
            results["changes"] = simulate_changes(ctx)
            log(f"simulate-changes: {results['changes']['orders_changed_pct']:.2f}% of orders changed; {results['changes']['rows_changed']}")
            for r, database in enumerate(warehouses, start=1):
                run = run_sync(ctx, r, "incremental", database)
                results["runs"]["olist_incremental"].append(run)
                log(f"round {r} olist incremental: {run['wall_s']:.1f}s {_rounded(run['phases_s'])}")
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


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _rounded(values: dict) -> dict:
    return {k: round(v, 1) for k, v in values.items()}


if __name__ == "__main__":
    sys.exit(main())
