"""Gate 1's structural pass over one staged part: its header, each record's field count, broken quoting.

Kept apart from olist_etl.gates.staged so that a worker imports only this, the staging area and
csv (not GX): `scan_parts` spreads the parts of a big run over one worker process per core,
because csv.reader holds the GIL and threads would parse on one core (29 s of 15.5 M rows at
scale 10, on one core of two). Workers are plain `python -m olist_etl.gates.part_scan`
subprocesses, not multiprocessing's: spawn would re-run the caller's main script in each worker
(a user's unguarded script runs its flow again; the CLI's imports cost seconds), and fork copies a
threaded flow process. Small runs scan in this process; the result is the same either way.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import olist_etl
from olist_etl.stage import NULL_MARKER
from olist_etl.staging import StagingArea, StagingError, open_staging

# Kaggle fields can exceed csv's default 128 KiB limit; a long review must not read as malformed.
# Set here, at import, so a worker process that imports only this module has it too.
csv.field_size_limit(1 << 24)

# Below this many staged rows a run scans in this process: starting a worker (an interpreter and
# these imports, about half a second) costs more than it saves.
PARALLEL_MIN_ROWS = 200_000


@dataclass
class PartScan:
    """What the structural pass found in one part. `rejects_path` holds its malformed records as
    rows of the table's rejects CSV (part, line, fields, expected_fields, row), in line order."""

    key: str
    header: list[str]
    rows: int = 0
    rejected: int = 0
    unreadable: bool = False
    misses: list[dict] = field(default_factory=list)  # the first `samples` malformed records, in line order
    rejects_path: str | None = None


def _scan(area: StagingArea, key: str, expected: Sequence[str], rejects_dir: str, samples: int) -> PartScan:
    """Read one part once, one record in memory; malformed records go to a file in `rejects_dir`."""
    expected = list(expected)
    rejects_file = rejects = None
    with area.reader(key) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
        # Plain csv.reader: only field counts and quoting matter here, not which fields are NULL
        # (the same parser, strict alike, as StagedCsvReader).
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader, None) or []
        except csv.Error as err:
            header = [f"<unreadable header: {err}>"]
        scan = PartScan(key=key, header=header)
        if header != expected:
            return scan  # rows under a wrong header cannot be read by name; the header check blocks
        try:
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as err:
                    # A broken quote: everything up to here was read; the rest of the part is unreadable.
                    rejects_file, rejects = _open_rejects(rejects_dir, rejects_file, rejects)
                    scan.rejected += 1
                    scan.unreadable = True
                    rejects.writerow([key, reader.line_num, "", len(expected), f"csv error: {err}"])
                    _miss(scan, {"part": key, "line": reader.line_num, "error": str(err)}, samples)
                    break
                if len(row) != len(expected):
                    rejects_file, rejects = _open_rejects(rejects_dir, rejects_file, rejects)
                    scan.rejected += 1
                    fields = [None if value == NULL_MARKER else value for value in row]  # NULL shown as null
                    rejects.writerow([key, reader.line_num, len(row), len(expected), json.dumps(fields, ensure_ascii=False)])
                    _miss(scan, {"part": key, "line": reader.line_num, "fields": len(row)}, samples)
                    continue
                scan.rows += 1
        finally:
            if rejects_file is not None:
                rejects_file.close()
                scan.rejects_path = rejects_file.name
    return scan


def scan_parts(area: StagingArea, staging_url: str, parts: Sequence[tuple[str, Sequence[str]]], part_rows: Sequence[int],
               rejects_dir: str, samples: int) -> list[PartScan]:
    """Scan every (part key, expected header) and return the scans in the order given. Workers
    open the area from `staging_url` themselves; this process reads through `area`."""
    workers = scan_workers(sum(part_rows), len(parts))
    if workers <= 1:
        return [_scan(area, key, expected, rejects_dir, samples) for key, expected in parts]
    # Largest parts first, each to the least loaded worker: the workers finish close together.
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for index in sorted(range(len(parts)), key=lambda i: -part_rows[i]):
        least = loads.index(min(loads))
        shares[least].append(index)
        loads[least] += part_rows[index]
    scans: list[PartScan | None] = [None] * len(parts)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda share: _run_worker(staging_url, [parts[i] for i in share], rejects_dir, samples), shares)
        for share, found in zip(shares, list(results)):
            for index, scan in zip(share, found):
                scans[index] = scan
    return scans  # type: ignore[return-value]


def scan_workers(total_rows: int, parts: int) -> int:
    """Processes to scan with: one per core for a big run, else 1 (this process)."""
    if total_rows < PARALLEL_MIN_ROWS or parts < 2:
        return 1
    return max(1, min(os.cpu_count() or 1, parts))


def _run_worker(staging_url: str, parts: list[tuple[str, Sequence[str]]], rejects_dir: str, samples: int) -> list[PartScan]:
    """Scan `parts` in a `python -m olist_etl.gates.part_scan` subprocess (it inherits the
    environment, so S3 credentials and endpoint come along; nothing secret is on its command line)."""
    job = {"staging_url": staging_url, "parts": [[key, list(expected)] for key, expected in parts],
           "rejects_dir": rejects_dir, "samples": samples}
    package_root = str(Path(olist_etl.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-m", "olist_etl.gates.part_scan"], input=json.dumps(job), env=env,
                          capture_output=True, text=True, encoding="utf-8")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise RuntimeError(f"gate 1's structural pass worker failed: {detail}") from None
    if "staging_error" in answer:  # the same kind as in this process, so retries still see it as transient or not
        raise StagingError(answer["staging_error"]["message"], transient=answer["staging_error"]["transient"])
    if "error" in answer:
        raise RuntimeError(f"gate 1's structural pass worker failed: {answer['error']}")
    return [PartScan(**scan) for scan in answer["scans"]]


def _worker_main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        area = open_staging(job["staging_url"])
        scans = [asdict(_scan(area, key, expected, job["rejects_dir"], job["samples"])) for key, expected in job["parts"]]
    except StagingError as err:
        print(json.dumps({"staging_error": {"message": str(err), "transient": err.transient}}))
        return 1
    except Exception as err:  # noqa: BLE001 - reported to the gate, which raises it
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 1
    print(json.dumps({"scans": scans}))
    return 0


def _miss(scan: PartScan, sample: dict, samples: int) -> None:
    if len(scan.misses) < samples:
        scan.misses.append(sample)


def _open_rejects(rejects_dir: str, rejects_file, rejects):
    if rejects_file is None:
        rejects_file = tempfile.NamedTemporaryFile(mode="w", encoding="utf-8", newline="", dir=rejects_dir,
                                                   suffix=".csv", delete=False)
        rejects = csv.writer(rejects_file, lineterminator="\n")
    return rejects_file, rejects


if __name__ == "__main__":
    sys.exit(_worker_main())
