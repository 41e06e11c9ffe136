"""The results JSON: every run's raw numbers and, per contender, their medians."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

# The phases that move the data (against the floor): the landing COPY is the load of the staged
# parts; load- is the cast into the typed delta tables.
EXTRACT_STAGE_LOAD = ("extract", "stage", "land", "load")

# Contenders in the results file, in the order they run in a round.
RUN_KEYS = ("floor", "floor_parallel", "dlt", "sling", "olist_full", "olist_dask_full", "olist_incremental", "olist_dask_incremental", "olist_verify")


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
            entry["extract_stage_load_s"] = median([sum(run["phases_s"].get(p, 0.0) for p in EXTRACT_STAGE_LOAD) for run in runs])
        out[name] = entry
    return out


def write_results(results: dict, path: Path) -> Path:
    """Write the numbers so far to <out>.tmp (renamed to <out> once the run is complete)."""
    results["medians"] = medians(results)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    return tmp


def rephase(results: dict) -> dict:
    """Recompute every sync run's phases from its stored task spans (after a phase map change)."""
    from prefect_api import PHASES, phases_from_tasks

    if "method" in results:
        results["method"]["phase_tasks"] = {phase: [f"{p}*" if p.endswith("-") else p for p in prefixes] for phase, prefixes in PHASES}

    for runs in results["runs"].values():
        for run in runs:
            if "tasks" in run:
                run.update(phases_from_tasks(run["tasks"]))
    results["medians"] = medians(results)
    return results


if __name__ == "__main__":
    import sys

    # python bench/results.py rephase FILE: re-read a results file's phases with today's phase map.
    if sys.argv[1:2] != ["rephase"] or len(sys.argv) != 3:
        raise SystemExit("usage: python bench/results.py rephase FILE")
    target = Path(sys.argv[2])
    target.write_text(json.dumps(rephase(json.loads(target.read_text())), indent=2, default=str) + "\n")
