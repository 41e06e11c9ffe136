"""Profile one olist-etl full sync with py-spy and say where each phase spends its time.

    python bench/profile.py --scale 1 --out bench/results/profile-full-sync

Seeds a fresh MariaDB database, starts a Prefect API server, and runs `olist-etl sync --mode full`
under `py-spy record --subprocesses` (py-spy from bench/.venv-tools) into a fresh PostgreSQL
database, once with `--format raw` (collapsed stacks, summarised here) and, with --svg, once more
for a flame graph. Writes <out>.txt (the stacks), <out>.md (per phase: share of samples, top
functions by own time, time by library) and optionally <out>.svg. Everything it created is
dropped at the end. Run with the project's venv python, like bench/run.py.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import venvs  # noqa: E402
from common import OLIST_ETL, BenchError, log  # noqa: E402
from prefect_api import PrefectServer  # noqa: E402
from services import Context, Services  # noqa: E402

# Phase -> the task function whose frame marks a sample as that phase's (first match wins, so
# the gates and tasks nested in promote count as merge).
PHASE_FRAMES = (
    ("merge", "promote"),
    ("extract", "extract_table"),
    ("stage", "write_manifest"),
    ("gate 0", "validate_source_columns"),
    ("gate 1", "validate_staged_parts"),
    ("load", "load_table"),
    ("gate 2", "validate_delta_tables"),
    ("docs", "publish_run_artifacts"),
    ("setup", "create_warehouse"),
    ("setup", "read_watermarks"),
)
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>.+?)(?::(?P<line>\d+))?\)$")
TOP = 12


def parse(raw: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy raw output: one 'frame;frame;... count' line per distinct stack, root first."""
    stacks = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame.strip())
            frames.append((match["func"], match["file"]) if match else (frame.strip(), ""))
        stacks.append((frames, int(count)))
    return stacks


def phase_of(frames: list[tuple[str, str]]) -> str:
    names = {func for func, _ in frames}
    for phase, func in PHASE_FRAMES:
        if func in names:
            return phase
    return "other (start-up, imports, Prefect engine)"


def library(path: str) -> str:
    """site-packages/<pkg>/... -> pkg; the project's own files by folder; the stdlib by module."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for own in ("olist_etl/", "tasks/", "flows/"):
        if own in path:
            return "olist-etl " + own.rstrip("/")
    match = re.search(r"python3\.\d+/(.+?)(?:/|\.py)", path)
    return f"stdlib {match.group(1)}" if match else path or "?"


def summarise(stacks) -> str:
    total = sum(count for _, count in stacks) or 1
    by_phase: dict[str, list] = collections.defaultdict(list)
    for frames, count in stacks:
        by_phase[phase_of(frames)].append((frames, count))
    order = [p for p, _ in PHASE_FRAMES] + ["other (start-up, imports, Prefect engine)"]
    lines = ["# py-spy profile of one full sync", "",
             f"{total:,} samples of non-idle threads (py-spy skips threads blocked in a system call, so waiting on the"
             " databases is not counted); each thread is sampled separately, so parallel tasks add up.", "",
             "| phase | share of samples |", "|---|---:|"]
    seen = []
    for phase in order:
        if phase in by_phase and phase not in seen:
            seen.append(phase)
            lines.append(f"| {phase} | {100 * sum(c for _, c in by_phase[phase]) / total:.1f} % |")
    for phase in seen:
        items = by_phase[phase]
        n = sum(c for _, c in items) or 1
        own = collections.Counter()
        libs = collections.Counter()
        for frames, count in items:
            func, path = frames[-1]
            own[f"{func} ({_short(path)})"] += count
            libs[library(path)] += count
        lines += ["", f"## {phase}: {100 * n / total:.1f} % of all samples", "", "| function (own time) | % of phase |", "|---|---:|"]
        lines += [f"| `{name}` | {100 * c / n:.1f} |" for name, c in own.most_common(TOP)]
        lines += ["", "| library (own time) | % of phase |", "|---|---:|"]
        lines += [f"| {name} | {100 * c / n:.1f} |" for name, c in libs.most_common(8)]
    return "\n".join(lines) + "\n"


def _short(path: str) -> str:
    return path.split("site-packages/", 1)[-1] if "site-packages/" in path else path.split("/work/", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, required=True, help="path without suffix; .txt, .md (and .svg) are written")
    parser.add_argument("--svg", action="store_true", help="also record a flame graph (a second full sync)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--mariadb-url", default="mysql://root@127.0.0.1:3306")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--project-dir", type=Path, default=None, help="profile the olist-etl code in this directory instead of this checkout")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    args.out = args.out.resolve()  # py-spy runs in the temporary work directory
    args.out.parent.mkdir(parents=True, exist_ok=True)
    py_spy = venvs.ensure_venv("tools", log).parent / "py-spy"

    services = Services(args.mariadb_url, args.postgres_url)
    work = Path(tempfile.mkdtemp(prefix="olist-profile-", dir=args.work_dir))
    ctx = Context(argparse.Namespace(project_dir=args.project_dir), services, work)
    try:
        ctx.source_db = services.create_source()
        log(f"seeding {ctx.source_db} at scale {args.scale}")
        subprocess.run([str(OLIST_ETL), "seed-source", "--scale", str(args.scale), "--seed", str(args.seed)], cwd=work, check=True,
                       env=ctx.env | {"OLIST_HOME": str(work / "seed"), "OLIST_SOURCE_URL": services.source_url(ctx.source_db)},
                       stdout=subprocess.DEVNULL)
        (work / "prefect-server").mkdir()
        ctx.server = PrefectServer(work / "prefect-server")
        ctx.server.start()
        formats = ["raw"] + (["flamegraph"] if args.svg else [])
        for n, fmt in enumerate(formats):
            database = services.create_warehouse(f"profile{n}")
            target = args.out.with_suffix(".txt" if fmt == "raw" else ".svg")
            env = ctx.env | ctx.server.env() | {
                "PREFECT_HOME": str(work / "prefect-client"), "PREFECT_API_URL": ctx.server.api_url,
                "OLIST_HOME": str(work / f"olist{n}"), "OLIST_SOURCE_URL": services.source_url(ctx.source_db),
                "OLIST_WAREHOUSE_URL": services.warehouse_url(database),
            }
            cmd = [str(py_spy), "record", "--subprocesses", "--rate", str(args.rate), "--format", fmt, "-o", str(target), "--",
                   str(OLIST_ETL), "sync", "--mode", "full", "--json"]
            log(f"profiling a full sync ({fmt}) -> {target}")
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise BenchError(f"py-spy / sync exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
            services.drop_warehouse(database)
        summary = summarise(parse(args.out.with_suffix(".txt").read_text()))
        args.out.with_suffix(".md").write_text(summary)
        log(f"wrote {args.out.with_suffix('.md')}")
        return 0
    except BenchError as err:
        log(f"error: {err}")
        return 1
    finally:
        if ctx.server is not None:
            ctx.server.stop()
        services.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
