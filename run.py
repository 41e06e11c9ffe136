#!/usr/bin/env python3
"""Bootstrap for a fresh machine with only Python 3.11+:

    python3 run.py demo    # create .venv, install olist-etl, run the demo end to end
    python3 run.py test    # create .venv, install olist-etl with test extras, run the tests

Anything after the command is passed on (to `olist-etl demo` or to pytest). `run.py test` with
nothing after it runs the whole suite, then the tests marked both_runners again on the Dask task
runner (OLIST_DASK_WORKERS=2); it fails when either pass fails.

Dependencies come from requirements.lock (exact versions with hashes; scripts/lock.sh refreshes
it), then the project itself is installed editable without dependencies. .venv is reinstalled
when pyproject.toml or the lock changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".olist-etl-installed"
LOCK = ROOT / "requirements.lock"
# The tests that render pages in headless Chromium (they skip without it, and fail under CI=true).
BROWSER_TESTS = ("test_data_docs_browser.py", "test_bi_report.py")


def install_fingerprint() -> str:
    """What the installed .venv was built from: a change to either file reinstalls it."""
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", LOCK):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create the virtual environment and (re)install when pyproject.toml or the lock changed."""
    if sys.version_info < (3, 11):
        sys.exit(f"olist-etl needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not LOCK.exists():
        sys.exit(f"{LOCK} is missing: run scripts/lock.sh --upgrade to create it")
    wanted = install_fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing olist-etl and its dependencies (first run takes a minute or two) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["install", "--upgrade", "pip"], check=True)
    # Hash-checked, pinned dependencies (the test extra included); then only the project itself.
    subprocess.run(pip + ["install", "--require-hashes", "-r", str(LOCK)], check=True)
    subprocess.run(pip + ["install", "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def wants_browser(pytest_args: list[str]) -> bool:
    """False only when the arguments name test files and none of them is a browser test."""
    files = [a for a in pytest_args if not a.startswith("-") and ".py" in a]
    if not files:
        return True
    return any(name in a for a in files for name in BROWSER_TESTS)


def ensure_chromium(pytest_args: list[str]) -> None:
    """Install Debian's chromium for the browser tests when it is missing, as root with apt."""
    if not wants_browser(pytest_args) or any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        return
    can_install = os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get")
    if can_install:
        print("installing Debian's chromium for the browser tests (apt-get) ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        done = subprocess.run(["apt-get", "update", "-qq"], env=env).returncode == 0 and subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], env=env, stdout=subprocess.DEVNULL
        ).returncode == 0
        if done:
            return
        print("note: apt-get could not install chromium.", file=sys.stderr)
    under_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    print(
        "note: headless Chromium is not installed, so the browser tests ("
        + ", ".join(BROWSER_TESTS)
        + (") will FAIL because CI is set" if under_ci else ") will be skipped")
        + ". Install it with `sudo apt-get install chromium` (Debian/Ubuntu) or put chromium on PATH.",
        file=sys.stderr,
        flush=True,
    )


# Both passes run their test files on two pytest-xdist workers (CI has two cores and most tests
# wait on a database, a subprocess or a Prefect API). Whole files go to one worker, so a module's
# fixtures (a seeded source, a template warehouse) are built once; every fixture names its own
# databases, buckets and folders, so the workers share nothing.
# The slowest tests are listed at the end, so a pass that grows can be read from CI's log.
PARALLEL = ("-n", "2", "--dist", "loadfile", "--durations=25")

DASK_PASS_HEADER = "second pass: tests marked both_runners on the Dask task runner"


def plan_test_passes(pytest_args: list[str]) -> list[tuple[dict[str, str], list[str]]]:
    """The pytest runs of `run.py test`, as (environment overrides, pytest arguments).

    Given arguments, one run with exactly those. Without (the full suite, as CI runs it), the
    suite, then the tests marked both_runners again with every sync on a local Dask cluster of two
    worker processes (olist_etl/runner.py), so both task runners are proven in CI; each pass on
    two pytest-xdist workers (PARALLEL).
    """
    if pytest_args:
        return [({}, list(pytest_args))]
    return [({}, list(PARALLEL)), ({"OLIST_DASK_WORKERS": "2"}, [*PARALLEL, "-m", "both_runners"])]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_environment()
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if command == "demo":
        return subprocess.run([str(BIN / "olist-etl"), "demo", *rest], cwd=ROOT, env=env).returncode
    ensure_chromium(rest)
    for overrides, args in plan_test_passes(rest):
        if overrides:
            print(f"\n{DASK_PASS_HEADER} ({' '.join(f'{k}={v}' for k, v in overrides.items())})", flush=True)
        started = time.monotonic()
        code = subprocess.run([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT, env={**env, **overrides}).returncode
        if overrides:
            print(f"second pass took {time.monotonic() - started:.0f}s", flush=True)
        if code == 5:
            print("pytest collected no tests: that is a failure here", file=sys.stderr)
            return 1
        if code != 0:
            return code  # the second pass only adds to a suite that passed
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
