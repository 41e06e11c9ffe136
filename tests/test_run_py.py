"""`run.py test`: the full suite (as CI calls it) is followed by a second pass of the tests marked
both_runners on the Dask task runner, and the exit code fails when either pass fails."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest


def _load_run_py():
    # run.py is a script at the repository root, not a package module: load it by path.
    spec = importlib.util.spec_from_file_location("olist_run_py_passes", Path(__file__).resolve().parents[1] / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_run_py()


def test_the_full_suite_is_followed_by_the_both_runners_pass_on_dask():
    passes = run.plan_test_passes([])
    parallel = ["-n", "2", "--dist", "loadfile", "--durations=25"]
    assert passes == [({}, parallel), ({"OLIST_DASK_WORKERS": "2"}, [*parallel, "-m", "both_runners"])]
    # The variable selects a local Dask cluster (the same check the flow makes when imported).
    from olist_etl.runner import runner_choice

    assert runner_choice(passes[1][0]).workers == 2


def test_arguments_run_just_pytest_with_them():
    assert run.plan_test_passes(["tests/test_verify.py", "-q"]) == [({}, ["tests/test_verify.py", "-q"])]
    assert run.plan_test_passes(["-m", "both_runners"]) == [({}, ["-m", "both_runners"])]


@pytest.fixture
def pytest_calls(monkeypatch):
    """main() with the install steps skipped and pytest replaced: the calls it made, and the exit
    codes the fake pytest answers in order."""
    calls: list[tuple[list[str], dict]] = []
    codes: list[int] = []
    monkeypatch.setattr(run, "ensure_environment", lambda: None)
    monkeypatch.setattr(run, "ensure_chromium", lambda args: None)
    monkeypatch.delenv("OLIST_DASK_WORKERS", raising=False)

    def fake_run(cmd, cwd, env):
        calls.append((cmd, env))
        return subprocess.CompletedProcess(cmd, codes.pop(0))

    monkeypatch.setattr(run.subprocess, "run", fake_run)
    return calls, codes


def test_main_runs_both_passes_and_prints_the_header(pytest_calls, capsys):
    calls, codes = pytest_calls
    codes += [0, 0]
    assert run.main(["test"]) == 0
    (first, first_env), (second, second_env) = calls
    assert first[1:] == ["-m", "pytest", "-n", "2", "--dist", "loadfile", "--durations=25"] and "OLIST_DASK_WORKERS" not in first_env
    assert second[-2:] == ["-m", "both_runners"] and second_env["OLIST_DASK_WORKERS"] == "2"
    assert "second pass: tests marked both_runners on the Dask task runner" in capsys.readouterr().out


@pytest.mark.parametrize("codes, expected, ran", [([1], 1, 1), ([0, 1], 1, 2), ([0, 5], 1, 2), ([5], 1, 1)])
def test_main_fails_when_either_pass_fails(pytest_calls, codes, expected, ran):
    calls, answers = pytest_calls
    answers += codes
    assert run.main(["test"]) == expected
    assert len(calls) == ran  # a failed first pass is not followed by the second


def test_main_with_arguments_runs_one_pass(pytest_calls):
    calls, codes = pytest_calls
    codes += [0]
    assert run.main(["test", "tests/test_verify.py"]) == 0
    ((cmd, env),) = calls
    assert cmd[-1] == "tests/test_verify.py" and "OLIST_DASK_WORKERS" not in env
