"""The Prefect API server the olist-etl syncs report to, and their per-phase times read back from it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx

from common import PREFECT, BenchError
from olist_etl.shutdown import stop_process_group

SERVER_START_SECONDS = 120
TASK_RUNS_SETTLE_SECONDS = 120

# olist-sync task run names -> benchmark phase; "extract" includes writing the gzip CSV parts
# (the extract task streams rows straight into the staging area), "stage" is the run manifest.
PHASES = (
    ("setup", ("create-warehouse", "has-promoted-run", "read-watermarks")),
    ("gate 0", ("gate-source-columns",)),
    ("extract", ("extract-",)),
    ("stage", ("write-manifest",)),
    # Gate 1 is three steps: the streaming structural pass over the parts, the COPY of the parts
    # into all-text landing tables (the load of the staged data), then GX on them.
    ("gate 1 parts", ("check-staged-parts",)),
    ("land", ("land-",)),
    ("gate 1", ("gate-staged-parts",)),
    ("load", ("load-",)),
    ("gate 2", ("gate-delta-tables",)),
    ("merge", ("promote",)),
    ("docs", ("publish-run-artifacts",)),
)
PHASE_NAMES = [name for name, _ in PHASES]


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
            stop_process_group(self.proc)

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
    flow_s = _ts(flow_run["end_time"]) - _ts(flow_run["start_time"])
    tasks = sorted(
        ({"name": t["name"], "start": _ts(t["start_time"]) - _ts(flow_run["start_time"]), "seconds": _ts(t["end_time"]) - _ts(t["start_time"])}
         for t in task_runs if t["start_time"]),  # a task that never ran (cached, cancelled) has no span
        key=lambda t: t["start"],
    )
    return {"flow_run_s": flow_s, **phases_from_tasks(tasks), "tasks": tasks}


def phases_from_tasks(tasks: list[dict]) -> dict:
    """Phases from the stored task spans ({name, start, seconds}), so a results file can be re-read
    when the phase map changes."""
    phases, unmapped = {}, []
    spans: dict[str, list[tuple[float, float]]] = {name: [] for name in PHASE_NAMES}
    for task in tasks:
        for phase, prefixes in PHASES:
            if task["name"].startswith(prefixes):
                spans[phase].append((task["start"], task["start"] + task["seconds"]))
                break
        else:
            unmapped.append(task["name"])
    for phase, items in spans.items():
        if items:
            phases[phase] = max(e for _, e in items) - min(s for s, _ in items)
    return {"phases_s": phases, "unmapped_tasks": unmapped}
