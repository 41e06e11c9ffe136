"""Errors a person can read: the CLI as a user runs it (a subprocess), against the real services.

A configuration error ends in one line naming the setting or service and the cause, exit 1, no
traceback unless --verbose; with --json exactly one JSON object on stdout; never a password.
Also --version and the help texts (every option explained, its default shown, the exit codes).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from importlib.metadata import version

import pytest

from olist_etl.app.cli import build_parser
from olist_etl.settings import Settings

PASSWORD = "s3cr3t-Pw"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(args: list[str], env: dict, cwd, timeout: float = 60) -> tuple[int, str, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "olist_etl.app.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


@pytest.fixture
def base_env(olist_home):
    """The environment of a user's shell: none of the test session's Prefect or OLIST settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLIST_", "PREFECT_API", "AWS_"))}
    env.update(OLIST_HOME=str(olist_home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


@pytest.mark.integration
def test_sync_with_an_unreachable_s3_endpoint_fails_fast_in_a_few_lines(base_env, mariadb_url, postgres_url, tmp_path):
    port = closed_port()
    env = dict(
        base_env, OLIST_SOURCE_URL=mariadb_url, OLIST_WAREHOUSE_URL=postgres_url, OLIST_STAGING_URL="s3://olist-bucket/olist",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )

    code, out, err, seconds = run_cli(["sync", "--mode", "full"], env, tmp_path)

    assert code == 1, err
    assert seconds < 20, f"took {seconds:.1f} s"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) <= 3, err
    assert "OLIST_STAGING_URL" in lines[-1] and f"127.0.0.1:{port} unreachable" in lines[-1], err
    assert out == ""

    # --json: exactly one JSON object on stdout, and still no traceback.
    code, out, err, seconds = run_cli(["sync", "--mode", "full", "--json"], env, tmp_path)
    assert code == 1 and seconds < 20 and "Traceback" not in err
    (line,) = out.splitlines()
    error = json.loads(line)
    assert error["status"] == "error" and error["run_id"] is None
    assert "OLIST_STAGING_URL" in error["error"] and "unreachable" in error["error"]
    assert set(error) == {"status", "error", "run_id"}


@pytest.mark.integration
def test_a_wrong_source_password_is_one_line_without_the_password(base_env, mariadb_url, postgres_url, tmp_path):
    import sqlalchemy as sa

    wrong = sa.engine.make_url(mariadb_url).set(password=PASSWORD).render_as_string(hide_password=False)
    env = dict(base_env, OLIST_SOURCE_URL=wrong, OLIST_WAREHOUSE_URL=postgres_url)

    code, out, err, seconds = run_cli(["sync", "--json"], env, tmp_path)

    assert code == 1 and seconds < 20
    assert "Traceback" not in err and PASSWORD not in out + err
    assert len(err.strip().splitlines()) == 1, err
    error = json.loads(out)
    assert "OLIST_SOURCE_URL" in error["error"] and "Access denied" in error["error"], error
    assert "***" in error["error"]  # the URL is shown, masked


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("OLIST_PART_ROWS", "abc", "OLIST_PART_ROWS must be a whole number > 0, got 'abc'"),
        ("OLIST_PART_ROWS", "0", "OLIST_PART_ROWS must be a whole number > 0, got '0'"),
        ("OLIST_LOOKBACK_MINUTES", "ten", "OLIST_LOOKBACK_MINUTES must be a number >= 0, got 'ten'"),
        ("OLIST_LOCK_WAIT_SECONDS", "-5", "OLIST_LOCK_WAIT_SECONDS must be a number >= 0, got '-5'"),
    ],
)
def test_a_bad_setting_value_is_one_line_naming_the_variable(base_env, tmp_path, variable, value, expected):
    code, out, err, _ = run_cli(["sync"], dict(base_env, **{variable: value}), tmp_path)

    assert code == 1
    assert err.strip() == f"olist-etl sync: error: {expected}"
    assert out == ""


def test_verbose_shows_the_traceback_and_json_prints_the_error_object(base_env, tmp_path):
    env = dict(base_env, OLIST_PART_ROWS="abc")

    code, out, err, _ = run_cli(["--verbose", "sync", "--json"], env, tmp_path)

    assert code == 1
    assert "Traceback" in err and err.strip().endswith("olist-etl sync: error: OLIST_PART_ROWS must be a whole number > 0, got 'abc'")
    assert json.loads(out) == {"status": "error", "error": "OLIST_PART_ROWS must be a whole number > 0, got 'abc'", "run_id": None}


def test_good_setting_values_are_read():
    settings = Settings.from_env(
        {"OLIST_PART_ROWS": " 400 ", "OLIST_LOOKBACK_MINUTES": "2.5", "OLIST_LOCK_WAIT_SECONDS": "0"}, load_dotenv=False
    )
    assert settings.part_rows == 400
    assert settings.lookback.total_seconds() == 150
    assert settings.lock_wait_seconds == 0


def test_an_unparseable_url_is_not_echoed(base_env, tmp_path):
    env = dict(base_env, OLIST_SOURCE_URL=f"mysql://etl:{PASSWORD}@db-host:notaport/olist")

    code, out, err, _ = run_cli(["check"], env, tmp_path)

    assert code == 1
    assert PASSWORD not in out + err and "Traceback" not in err
    (line,) = [l for l in out.splitlines() if l.split()[1] == "source"]
    assert line.startswith("FAIL") and "OLIST_SOURCE_URL is not a usable database URL" in line


def test_version_is_the_installed_package_version(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "olist_etl.app.cli", "--version"], capture_output=True, text=True, cwd=tmp_path)

    assert proc.returncode == 0
    assert proc.stdout.strip() == f"olist-etl {version('olist-etl')}"


def test_help_lists_the_exit_codes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "olist_etl.app.cli", "--help"], capture_output=True, text=True, cwd=tmp_path)

    assert proc.returncode == 0
    text = proc.stdout
    assert "exit codes:" in text
    for code, meaning in (("0", "promoted"), ("1", "an error"), ("2", "blocked by a quality gate"), ("3", "different")):
        assert any(line.strip().startswith(code) and meaning in line for line in text.splitlines()), (code, text)
    assert "--verbose" in text and "--version" in text


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_option_has_help_and_shows_its_default():
    parser = build_parser()
    missing, no_default = [], []
    for name, sub in {"": parser, **_subparsers(parser)}.items():
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}".strip()
            if not action.help:
                missing.append(label)
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                if f"(default: {action.default})" not in " ".join(text.split()):
                    no_default.append(label)
    assert not missing, f"options without help text: {missing}"
    assert not no_default, f"options whose default the help does not show: {no_default}"
    # The check: a failing twin of the loop above, so it cannot pass vacuously.
    assert "(default: 42)" in " ".join(_subparsers(parser)["seed-source"].format_help().split())


def test_a_first_sync_gives_a_new_prefect_home_time_to_migrate_and_a_users_timeout_wins(tmp_path):
    # Prefect's default 20 s is shorter than a new Prefect home's migrations on a busy 2-core
    # machine: a first `olist-etl sync` failed "Timed out ... ephemeral Prefect API server".
    probe = ("import olist_etl.app.cli as cli; cli._prepare_environment(); "
             "from prefect.settings import get_current_settings; print(get_current_settings().server.ephemeral.startup_timeout_seconds)")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")

    default = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    chosen = subprocess.run([sys.executable, "-c", probe], env=env | {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "45"},
                            capture_output=True, text=True, timeout=120)

    assert default.stdout.split() == ["180"], default.stderr
    assert chosen.stdout.split() == ["45"], chosen.stderr
