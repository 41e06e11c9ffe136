"""What every part of the benchmark shares: paths, the log line, and measuring a contender's process."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

from olist_etl.shutdown import stop_process_group

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
OLIST_ETL = BIN / "olist-etl"
PREFECT = BIN / "prefect"
GNU_TIME = Path("/usr/bin/time")
RSS_POLL_SECONDS = 0.05


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


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


def max_rss_from_time_v(text: str) -> int | None:
    """The largest single process's max RSS in bytes, from `/usr/bin/time -v` output."""
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return int(match.group(1)) * 1024 if match else None


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
            stop_process_group(proc)
            raise
        wall = time.perf_counter() - started
    single = max_rss_from_time_v(timing.read_text(errors="replace")) if timing.exists() else None
    return {"wall_s": wall, "returncode": code, "stdout": out.read_text(errors="replace"), "stderr_log": err, "max_rss_single_bytes": single}


def check_ok(result: dict, what: str) -> None:
    if result["returncode"] != 0:
        tail = Path(result["stderr_log"]).read_text(errors="replace")[-3000:]
        raise BenchError(f"{what} exited with {result['returncode']}; stderr (last 3000 chars):\n{tail}")
