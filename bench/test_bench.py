"""Cheap checks of the benchmark's own logic: no database, no contender run, a few seconds.

    .venv/bin/python -m pytest bench/test_bench.py -q -p no:cacheprovider

Not part of the project's suite (testpaths = tests); a benchmark run itself is never a test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import floor  # noqa: E402
import report  # noqa: E402
import sling_peer  # noqa: E402
from common import BenchError, max_rss_from_time_v  # noqa: E402
from prefect_api import phase_times  # noqa: E402
from results import medians  # noqa: E402

from olist_etl.tables import TABLE_NAMES  # noqa: E402


def _task(name: str, start: str, end: str) -> dict:
    return {"name": name, "start_time": f"2026-01-01T00:00:{start}Z", "end_time": f"2026-01-01T00:00:{end}Z"}


def test_phase_spans_first_start_to_last_end_of_its_tasks():
    flow = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:30Z"}
    tasks = [_task("extract-orders", "01", "05"), _task("extract-customers", "02", "09"), _task("promote", "10", "20")]
    timeline = phase_times(flow, tasks)
    assert timeline["phases_s"] == {"extract": 8.0, "merge": 10.0}
    assert timeline["flow_run_s"] == 30.0
    assert timeline["unmapped_tasks"] == []


def test_a_task_of_no_phase_is_listed_not_counted():
    flow = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:30Z"}
    timeline = phase_times(flow, [_task("renamed-gate", "01", "05"), {"name": "never-ran", "start_time": None, "end_time": None}])
    assert timeline["phases_s"] == {}
    assert timeline["unmapped_tasks"] == ["renamed-gate"]


def test_medians_per_contender_and_extract_stage_load():
    runs = [{"wall_s": w, "phases_s": {"extract": e, "load": 1.0}} for w, e in ((10.0, 2.0), (30.0, 4.0), (20.0, 3.0))]
    out = medians({"runs": {"olist_full": runs, "sling": []}})
    assert out["olist_full"]["wall_s"] == 20.0
    assert out["olist_full"]["extract_stage_load_s"] == 4.0
    assert "sling" not in out  # no runs, no medians


def test_floor_types_and_an_unknown_type_named():
    assert floor.pg_type("orders", "price", "decimal(10,2)") == "numeric(10,2)"
    assert floor.pg_type("orders", "updated_at", "timestamp(6)") == "timestamp(6)"
    with pytest.raises(BenchError, match=r"orders\.shape of MariaDB type 'geometry'"):
        floor.pg_type("orders", "shape", "geometry")


def test_max_rss_read_from_gnu_time_and_absent_when_missing():
    assert max_rss_from_time_v("\tMaximum resident set size (kbytes): 2048\n") == 2048 * 1024
    assert max_rss_from_time_v("Command terminated by signal 9\n") is None


def test_sling_replication_names_every_table_and_no_credentials():
    config = sling_peer.replication("bench_src_x")
    assert set(config["streams"]) == {f"bench_src_x.{t}" for t in TABLE_NAMES}
    assert config["defaults"]["mode"] == "full-refresh"
    # Connections are names of environment variables, never URLs.
    assert "://" not in json.dumps(config)


def test_sling_binary_missing_is_a_clear_error(tmp_path):
    (tmp_path / "bin").mkdir()
    with pytest.raises(FileNotFoundError, match="no sling binary"):
        sling_peer.binary(tmp_path / "bin" / "python")


def _results(full: float | None, dlt: float | None, sling: float | None) -> dict:
    medians_ = {"olist_full": {"wall_s": full}} if full else {}
    medians_ |= {name: {"wall_s": wall} for name, wall in (("dlt", dlt), ("sling", sling)) if wall}
    return {"medians": medians_}


def test_full_sync_target_is_against_the_fastest_peer():
    data = _results(full=30.0, dlt=15.0, sling=10.0)
    assert report.fastest_peer(data) == ("sling", 10.0)
    assert report.ratios(data)["full_over_fastest_peer"] == 3.0
    assert report.ratios(data)["full_over_dlt"] == 2.0
    met = report.targets({1.0: _results(full=9.0, dlt=15.0, sling=10.0) | {"complete": True}})
    assert "(sling)" in met[0][0] and met[0][2] == "**met**"
    missed = report.targets({1.0: data | {"complete": True}})
    assert missed[0][2] == "**not met**"


def test_no_peer_measured_is_not_a_verdict():
    data = _results(full=30.0, dlt=None, sling=None)
    assert report.fastest_peer(data) == (None, None)
    assert report.targets({1.0: data})[0][2] == "not measured"


def test_run_help_and_a_bad_contender():
    run = [sys.executable, str(BENCH / "run.py")]
    assert "--sling-threads" in subprocess.run([*run, "--help"], capture_output=True, text=True, check=True).stdout
    bad = subprocess.run([*run, "--scale", "1", "--out", "/dev/null", "--contenders", "floor,airbyte"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "--contenders takes floor,dlt,sling,olist" in bad.stderr


def test_stop_process_group_ends_the_child_and_its_group():
    from olist_etl.shutdown import stop_process_group

    # A shell whose own child would outlive it if only the shell were signalled.
    proc = subprocess.Popen(["bash", "-c", "sleep 60 & wait"], start_new_session=True)
    time.sleep(0.2)
    stop_process_group(proc, timeout=5)
    assert proc.returncode == -signal.SIGTERM
    # The orphaned sleep got the SIGTERM too; it leaves the group once init has reaped it.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("a process of the group outlived stop_process_group")


def test_stop_process_group_kills_what_ignores_sigterm():
    from olist_etl.shutdown import stop_process_group

    proc = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"],
                            start_new_session=True, stdout=subprocess.PIPE)
    proc.stdout.readline()  # SIGTERM is ignored from here on
    stop_process_group(proc, timeout=0.5)
    assert proc.returncode == -signal.SIGKILL


def test_the_dask_contender_is_opt_in_and_its_sync_runs_on_dask_workers(monkeypatch, tmp_path):
    import olist
    import run

    default = run.parse_args(["--scale", "1", "--out", str(tmp_path / "r.json")])
    dask = run.parse_args(["--scale", "1", "--out", str(tmp_path / "r.json"), "--contenders", "olist,olist_dask", "--dask-workers", "3"])
    assert "olist_dask" not in default.contender_set and dask.contender_set == {"olist", "olist_dask"}
    seen = {}

    def stop(cmd, env, **kwargs):  # the env the sync would run with; nothing is started
        seen.update(env)
        raise BenchError("stopped")

    class Server:
        api_url = "http://127.0.0.1:1/api"
        env = staticmethod(dict)
        flow_run_ids = staticmethod(set)

    class Services:
        source_url = warehouse_url = staticmethod(lambda name: f"x://{name}")

    class Ctx:
        args, env, server, services, work, logs, source_db = dask, {}, Server(), Services(), tmp_path, tmp_path, "src"
        loads: dict = {}

        def note_load(self, label):
            self.loads[label] = None

    monkeypatch.setattr(olist, "run_measured", stop)
    with pytest.raises(BenchError):
        olist.run_sync(Ctx(), 1, "full", "wh", "dask")
    assert seen["OLIST_DASK_WORKERS"] == "3" and seen["OLIST_HOME"].endswith("olist_dask_r1")
    seen.clear()
    with pytest.raises(BenchError):
        olist.run_sync(Ctx(), 1, "full", "wh")
    assert "OLIST_DASK_WORKERS" not in seen and seen["OLIST_HOME"].endswith("olist_r1")


def test_an_unknown_contender_or_no_dask_workers_is_refused(tmp_path):
    import run

    for extra in (["--contenders", "olist,spark"], ["--contenders", "olist_dask", "--dask-workers", "0"]):
        with pytest.raises(SystemExit):
            run.parse_args(["--scale", "1", "--out", str(tmp_path / "r.json"), *extra])


def test_gate_one_steps_have_phases_and_land_counts_as_moving_data():
    # check-staged-parts and land-* once fell through the phase map: the landing COPY, a load of
    # the staged data, was missing from extract + stage + load.
    from results import rephase

    flow = {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:30Z"}
    tasks = [_task("extract-orders", "01", "03"), _task("write-manifest-1", "03", "04"), _task("check-staged-parts-1", "04", "06"),
             _task("land-orders", "06", "09"), _task("gate-staged-parts-1", "09", "15"), _task("load-orders", "15", "16")]
    timeline = phase_times(flow, tasks)
    assert timeline["unmapped_tasks"] == []
    assert timeline["phases_s"] == {"extract": 2.0, "stage": 1.0, "gate 1 parts": 2.0, "land": 3.0, "gate 1": 6.0, "load": 1.0}
    stored = {"runs": {"olist_full": [{"wall_s": 30.0, "phases_s": {"extract": 2.0}, "tasks": timeline["tasks"]}]}}
    assert rephase(stored)["medians"]["olist_full"]["extract_stage_load_s"] == 7.0
