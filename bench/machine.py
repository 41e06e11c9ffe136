"""What a result was measured on: the machine, and the version of every contender and server."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

import psutil
import psycopg
import pymysql

import venvs
from common import ROOT
from services import Services


def machine_info() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    with contextlib.suppress(OSError):
        release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))}, kernel {platform.release()}"
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
            "ram_bytes": psutil.virtual_memory().total, "os": os_name, "loadavg_at_start": os.getloadavg()}


def first_line(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError, IndexError):
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[0]
    return "unknown"


def code_label(project_dir: Path | None) -> str:
    """Which olist-etl code ran: the --project-dir, or this checkout's commit (and whether it was dirty)."""
    if project_dir:
        return str(project_dir)
    commit = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip())
    return f"checkout {commit}" + (" with uncommitted changes" if dirty else "")


def versions(services: Services, dlt_versions: dict[str, str], sling_version: str | None, project_dir: Path | None) -> dict:
    import great_expectations
    import prefect
    import sqlalchemy

    with services.my_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        mariadb = cur.fetchone()[0]
    with services.pg_connect() as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    return {
        "python": platform.python_version(),
        "olist_etl_code": code_label(project_dir),
        "mariadb_server": mariadb,
        "mariadb_client": first_line(["mariadb", "--version"]),
        "postgres_server": postgres,
        "psql": first_line(["psql", "--version"]),
        "prefect": prefect.__version__,
        "great_expectations": great_expectations.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "pymysql": pymysql.__version__,
        "psycopg": psycopg.__version__,
        "dlt": dlt_versions.get("dlt"),
        "connectorx": dlt_versions.get("connectorx"),
        "pyarrow_dlt_venv": dlt_versions.get("pyarrow"),
        "dlt_venv_python": first_line([str(venvs.venv_python("dlt")), "--version"]) if dlt_versions else None,
        "sling": sling_version,
    }
