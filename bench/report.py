"""Write docs/benchmarks.md and docs/benchmarks.png from bench/run.py results files.

    python bench/report.py bench/results/scale-1.json bench/results/scale-10.json

Every ratio and every met / not met verdict is computed here from the medians in the files.
The chart needs matplotlib, which is not a project dependency: without it this script re-runs
itself in bench/.venv-tools (created on first use, see bench/venvs.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import venvs  # noqa: E402  (bench/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("setup", "gate 0", "extract", "stage", "gate 1 parts", "land", "gate 1", "load", "gate 2", "merge", "docs")
CONTENDERS = (
    ("floor", "floor: mariadb \\| psql, tables one after another"),
    ("floor_parallel", "floor: the same pipes, several at once"),
    ("dlt", "dlt sql_database + connectorx (EL only)"),
    ("sling", "sling, Go binary (EL only)"),
    ("olist_full", "olist-etl full sync"),
    ("olist_incremental", "olist-etl incremental sync"),
    ("olist_dask_full", "olist-etl full sync, Dask task runner"),
    ("olist_dask_incremental", "olist-etl incremental sync, Dask task runner"),
)
# Sync runs with a phase column each, where the results file has them.
SYNC_RUNS = (("olist_full", "full"), ("olist_incremental", "incremental"), ("olist_dask_full", "full, Dask"),
             ("olist_dask_incremental", "incremental, Dask"))
# EL-only peers; the full-sync target is against the fastest of them.
PEERS = ("dlt", "sling")
# Targets of issue 15 (the same thresholds as issue 6, which had dlt as the only peer).
MAX_ESL_OVER_FLOOR = 1.5
MAX_INCREMENTAL_SHARE = 0.10
MAX_RSS_GROWTH = 1.5


# Hand-written analysis appended to the generated page.
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"


def load(paths: list[Path]) -> dict[float, dict]:
    by_scale: dict[float, dict] = {}
    for path in paths:
        data = json.loads(path.read_text())
        data["_path"] = str(path)
        scale = float(data["scale"])
        if scale in by_scale:
            raise SystemExit(f"two results files for scale {scale:g}: {by_scale[scale]['_path']} and {path}")
        by_scale[scale] = data
    return dict(sorted(by_scale.items()))


def _get(data: dict | None, contender: str, key: str):
    if not data:
        return None
    return (data.get("medians") or {}).get(contender, {}).get(key)


def ratio(a, b):
    return a / b if a is not None and b else None


def secs(value) -> str:
    return "–" if value is None else f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def mib(value) -> str:
    return "–" if value is None else f"{value / 2**20:,.0f} MiB"


def num(value, fmt="{:.2f}") -> str:
    return "–" if value is None else fmt.format(value)


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else "**met**" if ok else "**not met**"


def ratios(data: dict) -> dict:
    full = _get(data, "olist_full", "wall_s")
    return {
        **{f"full_over_{peer}": ratio(full, _get(data, peer, "wall_s")) for peer in PEERS},
        "full_over_fastest_peer": ratio(full, fastest_peer(data)[1]),
        "esl_over_floor": ratio(_get(data, "olist_full", "extract_stage_load_s"), _get(data, "floor", "wall_s")),
        "incremental_over_full": ratio(_get(data, "olist_incremental", "wall_s"), full),
    }


def fastest_peer(data: dict) -> tuple[str | None, float | None]:
    """The EL-only peer with the shortest median wall time in this results file, and that time."""
    timed = [(_get(data, peer, "wall_s"), peer) for peer in PEERS if _get(data, peer, "wall_s") is not None]
    if not timed:
        return None, None
    wall, peer = min(timed)
    return peer, wall


def targets(by_scale: dict[float, dict]) -> list[tuple[str, str, str]]:
    rows = []
    for scale, data in by_scale.items():
        r = ratios(data)
        tag = f"scale {scale:g}"
        peer = fastest_peer(data)[0] or "no peer measured"
        rows.append((f"full sync (both gates + merge) <= the fastest EL-only peer ({peer}), {tag}", f"{num(r['full_over_fastest_peer'])} ×",
                     verdict(None if r["full_over_fastest_peer"] is None else r["full_over_fastest_peer"] <= 1.0)))
        rows.append((f"extract + stage + land + load <= {MAX_ESL_OVER_FLOOR} × floor, {tag}", f"{num(r['esl_over_floor'])} ×",
                     verdict(None if r["esl_over_floor"] is None else r["esl_over_floor"] <= MAX_ESL_OVER_FLOOR)))
        rows.append((f"incremental (~1% of orders changed) <= {MAX_INCREMENTAL_SHARE:.0%} of full, {tag}",
                     num(None if r["incremental_over_full"] is None else r["incremental_over_full"] * 100, "{:.1f} %"),
                     verdict(None if r["incremental_over_full"] is None else r["incremental_over_full"] <= MAX_INCREMENTAL_SHARE)))
    growth = rss_growth(by_scale)
    rows.append((f"peak RSS at scale 10 <= {MAX_RSS_GROWTH} × at scale 1 (olist-etl full sync)", f"{num(growth)} ×",
                 verdict(None if growth is None else growth <= MAX_RSS_GROWTH)))
    ten = by_scale.get(10.0)
    rows.append(("scale 10 completes on this machine", "complete" if ten and ten.get("complete") else "no complete run" if ten else "not run",
                 verdict(bool(ten.get("complete")) if ten else None)))
    return rows


def rss_growth(by_scale: dict[float, dict]):
    return ratio(_get(by_scale.get(10.0), "olist_full", "peak_rss_tree_bytes"), _get(by_scale.get(1.0), "olist_full", "peak_rss_tree_bytes"))


def markdown(by_scale: dict[float, dict], chart: str, note: str | None = None) -> str:
    first = next(iter(by_scale.values()))
    lines = ["# Benchmarks", "",
             f"Generated by `bench/report.py` from {', '.join('`' + Path(d['_path']).name + '`' for d in by_scale.values())}"
             " (written by `bench/run.py`); do not edit by hand. How to re-run: [bench/README.md](../bench/README.md).", ""]
    if note:
        lines += [f"> **{note}**", ""]
    for scale, data in by_scale.items():
        runs = min((len(v) for v in data["runs"].values() if v), default=0)
        load_avg = data["machine"].get("loadavg_at_start")
        notes = []
        if runs < 3:
            notes.append(f"median of {runs} run(s), fewer than the 3 the issue asks for")
        if load_avg and load_avg[0] > 0.5 * (data["machine"].get("logical_cores") or 1):
            notes.append(f"load average {load_avg[0]:.1f} at start: the machine was busy, timings are noisy")
        if not data.get("complete"):
            notes.append("the run did not complete: partial numbers")
        if notes:
            lines.append(f"> **Scale {scale:g}: {'; '.join(notes)}.**")
            lines.append("")

    m = first["machine"]
    lines += ["## Machine and versions", "",
              f"- CPU: {m['cpu']}, {m['logical_cores']} logical cores ({m.get('physical_cores')} physical); RAM {m['ram_bytes'] / 2**30:.1f} GiB; {m['os']}"]
    v = first.get("versions", {})
    lines.append("- " + ", ".join(f"{k} {val}" for k, val in v.items() if val and k not in ("mariadb_client", "psql")))
    for scale, data in by_scale.items():
        if data["machine"] != m and {k: x for k, x in data["machine"].items() if k != "loadavg_at_start"} != {k: x for k, x in m.items() if k != "loadavg_at_start"}:
            lines.append(f"- **scale {scale:g} ran on a different machine**: {data['machine']}")
    lines.append("")

    lines += ["## Method", ""]
    for key, text in first.get("method", {}).items():
        if isinstance(text, str):
            lines.append(f"- {key}: {text}")
    lines.append("")

    lines += ["## Median times and peak memory", ""]
    header = "| contender | " + " | ".join(f"scale {s:g} time | scale {s:g} peak RSS (tree)" for s in by_scale) + " |"
    lines += [header, "|---|" + "---:|---:|" * len(by_scale)]
    for key, label in CONTENDERS:
        cells = []
        for data in by_scale.values():
            cells += [secs(_get(data, key, "wall_s")), mib(_get(data, key, "peak_rss_tree_bytes"))]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")

    lines += ["### olist-etl phases (median seconds; from the Prefect API's task runs)", ""]
    cols = [(s, mode) for s in by_scale for mode, _ in SYNC_RUNS if _get(by_scale[s], mode, "wall_s") is not None]
    names = dict(SYNC_RUNS)
    lines.append("| phase | " + " | ".join(f"scale {s:g} {names[m_]}" for s, m_ in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for phase in PHASES:
        lines.append(f"| {phase} | " + " | ".join(secs((_get(by_scale[s], m_, "phases_s") or {}).get(phase)) for s, m_ in cols) + " |")
    lines.append("| extract + stage + land + load | " + " | ".join(secs(_get(by_scale[s], m_, "extract_stage_load_s")) for s, m_ in cols) + " |")
    lines.append("| flow run (first task to end) | " + " | ".join(secs(_get(by_scale[s], m_, "flow_run_s")) for s, m_ in cols) + " |")
    lines.append("| process wall time | " + " | ".join(secs(_get(by_scale[s], m_, "wall_s")) for s, m_ in cols) + " |")
    lines += ["", "Phases not listed in the run are absent from its task runs; the gap between the flow run and the"
              " process wall time is interpreter start-up, imports and the Prefect client. Task runs per phase: "
              + "; ".join(f"{phase} = {', '.join(names)}" for phase, names in first.get("method", {}).get("phase_tasks", {}).items()) + ".", ""]

    lines += ["### dlt steps (median seconds)", "", "| step | " + " | ".join(f"scale {s:g}" for s in by_scale) + " |", "|---|" + "---:|" * len(by_scale)]
    for step in ("extract", "normalize", "load"):
        lines.append(f"| {step} | " + " | ".join(secs((_get(d, "dlt", "steps_s") or {}).get(step)) for d in by_scale.values()) + " |")
    lines.append("")

    lines += ["## Data", "", "| table | " + " | ".join(f"scale {s:g} rows" for s in by_scale) + " |", "|---|" + "---:|" * len(by_scale)]
    tables = list(first.get("rows_per_table", {}))
    for table in tables:
        lines.append(f"| {table} | " + " | ".join(f"{d.get('rows_per_table', {}).get(table, 0):,}" for d in by_scale.values()) + " |")
    lines.append("")
    for scale, data in by_scale.items():
        changes = data.get("changes")
        if changes:
            lines.append(f"- scale {scale:g}: `simulate-changes --fraction {changes['fraction']}` changed"
                         f" {changes['orders_changed_pct']:.2f} % of orders; rows changed per table: "
                         + ", ".join(f"{t} {n:,}" for t, n in changes["rows_changed"].items() if n) + ".")
    lines.append("")

    lines += ["## Ratios", "", "| ratio | " + " | ".join(f"scale {s:g}" for s in by_scale) + " |", "|---|" + "---:|" * len(by_scale)]
    all_ratios = {s: ratios(d) for s, d in by_scale.items()}
    for key, label in (("full_over_fastest_peer", "full sync ÷ fastest EL-only peer"), ("full_over_dlt", "full sync ÷ dlt EL-only"),
                       ("full_over_sling", "full sync ÷ sling EL-only"), ("esl_over_floor", "extract + stage + land + load ÷ floor"),
                       ("incremental_over_full", "incremental ÷ full")):
        lines.append(f"| {label} | " + " | ".join(num(all_ratios[s][key]) for s in by_scale) + " |")
    lines += ["", f"Peak RSS of the olist-etl full sync at scale 10 ÷ at scale 1: {num(rss_growth(by_scale))}.", ""]

    lines += ["## Targets (issue 15)", "", "| target | measured | verdict |", "|---|---:|---|"]
    lines += [f"| {t} | {value} | {v} |" for t, value, v in targets(by_scale)]
    lines += ["", f"![benchmark chart]({chart})", ""]
    if ANALYSIS.exists():
        # The reading of these numbers (what stands in the way, what was tried) is written by hand.
        lines += [ANALYSIS.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


def chart(by_scale: dict[float, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = list(by_scale)
    fig, axes = plt.subplots(2, len(scales), figsize=(7 * len(scales), 8), squeeze=False)
    colors = plt.get_cmap("tab20").colors
    # olist phases and dlt steps get their own colours; each legend entry once.
    segments = {**{("olist", p): (f"olist {p}", colors[i]) for i, p in enumerate(PHASES)},
                **{("dlt", p): (f"dlt {p}", colors[len(PHASES) + i]) for i, p in enumerate(("extract", "normalize", "load"))}}
    labelled: set[str] = set()

    def once(label: str) -> str | None:
        if label in labelled:
            return None
        labelled.add(label)
        return label

    labels = [label for _, label in CONTENDERS]
    for col, scale in enumerate(scales):
        data = by_scale[scale]
        ax, rss_ax = axes[0][col], axes[1][col]
        for row, (key, _label) in enumerate(CONTENDERS):
            wall = _get(data, key, "wall_s")
            if wall is None:
                continue
            kind = "olist" if key.startswith("olist") else "dlt" if key == "dlt" else None
            parts = (_get(data, key, "phases_s") if kind == "olist" else _get(data, key, "steps_s") if kind == "dlt" else None) or {}
            left = 0.0
            for (owner, name), (label, color) in segments.items():
                if owner == kind and parts.get(name):
                    ax.barh(row, parts[name], left=left, color=color, label=once(label))
                    left += parts[name]
            ax.barh(row, max(wall - left, 0.0), left=left, color="lightgrey", label=once("start-up / other" if kind else "whole run"))
            ax.text(wall, row, f" {wall:.1f} s", va="center", fontsize=8)
            rss = _get(data, key, "peak_rss_tree_bytes")
            if rss:
                rss_ax.barh(row, rss / 2**20, color="tab:blue")
                rss_ax.text(rss / 2**20, row, f" {rss / 2**20:,.0f}", va="center", fontsize=8)
        for a in (ax, rss_ax):
            a.set_yticks(range(len(labels)), [label.replace("\\|", "|") for label in labels], fontsize=8)
            a.invert_yaxis()
        ax.set_title(f"scale {scale:g}: median wall time (s); olist phases and dlt steps stacked", fontsize=9)
        rss_ax.set_title(f"scale {scale:g}: peak RSS of the process tree (MiB)", fontsize=9)
    handles = [h for a in axes[0] for h in a.get_legend_handles_labels()[0]]
    names = [n for a in axes[0] for n in a.get_legend_handles_labels()[1]]
    handles, names = axes[0][0].get_legend_handles_labels()
    if handles:
        # Few columns when one scale makes the figure narrow, so the legend is not cut off.
        fig.legend(handles, names, loc="lower center", ncol=4 if len(scales) == 1 else 6, fontsize=8)
    fig.tight_layout(rect=(0, 0.08 if len(scales) == 1 else 0.05, 1, 1))
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--md", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "benchmarks.png")
    parser.add_argument("--note", default=None, help="one line shown at the top, e.g. which commit and under what conditions")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("matplotlib") is None:
        python = venvs.ensure_venv("tools", lambda m: print(m, file=sys.stderr))
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *(argv if argv is not None else sys.argv[1:])])
    by_scale = load(args.results)
    chart(by_scale, args.png)
    args.md.write_text(markdown(by_scale, os.path.relpath(args.png, args.md.parent), args.note))
    print(f"wrote {args.md} and {args.png}")
    for target, value, v in targets(by_scale):
        print(f"  {target}: {value} -> {v.strip('*')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
