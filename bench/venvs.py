"""The benchmark's own virtual environments, kept apart from the project's dependencies.

.venv-dlt   dlt 1.x (sql-database, postgres, parquet = pyarrow extras) + connectorx + pymysql: the EL contender
.venv-sling the sling-linux-<arch> wheel: sling's Go binary, the other EL contender (it runs offline;
            the `sling` package itself would download the binary at first use)
.venv-tools matplotlib and py-spy: the chart and the profiler (requirements-tools.txt)

The first creation installs the unpinned specs and writes what pip resolved, fully frozen, into the
requirements file; every later creation (another machine, the lead's quiet re-run) installs exactly
those pins, so the contender's version does not drift between runs.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())

VENVS = {
    "dlt": (BENCH / ".venv-dlt", BENCH / "requirements-dlt.txt", ["dlt[postgres,sql-database,parquet]", "connectorx", "pymysql"]),
    "sling": (BENCH / ".venv-sling", BENCH / "requirements-sling.txt", [f"sling-linux-{_ARCH}"]),
    "tools": (BENCH / ".venv-tools", BENCH / "requirements-tools.txt", ["matplotlib", "py-spy"]),
}
_MARKER = ".bench-requirements.sha256"


def venv_python(name: str) -> Path:
    return VENVS[name][0] / "bin" / "python"


def ensure_venv(name: str, log=print) -> Path:
    """The venv's python, creating the venv and installing its pins first when needed."""
    path, pins, specs = VENVS[name]
    python = path / "bin" / "python"
    marker = path / _MARKER
    if python.exists() and pins.exists() and marker.exists() and marker.read_text() == _digest(pins):
        return python
    if not python.exists():
        log(f"creating {path.relative_to(BENCH.parent)}")
        # The base interpreter, not the project venv's: the bench venv must not see project packages.
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(path)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    if pins.exists():
        log(f"installing {pins.name} into {path.name}")
        subprocess.run(pip + ["-r", str(pins)], check=True)
    else:
        log(f"installing {' '.join(specs)} into {path.name} (unpinned; pinning the result in {pins.name})")
        subprocess.run(pip + specs, check=True)
        frozen = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True).stdout
        keep = [line for line in frozen.splitlines() if line and not line.startswith(("pip==", "setuptools==", "wheel=="))]
        pins.write_text(
            f"# What `pip install {' '.join(specs)}` resolved for bench/{path.name}; bench/venvs.py installs these pins.\n"
            + "\n".join(keep)
            + "\n"
        )
    marker.write_text(_digest(pins))
    return python


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def freeze(name: str) -> dict[str, str]:
    """package -> version installed in the venv (lower-case names)."""
    out = subprocess.run([str(venv_python(name)), "-m", "pip", "list", "--format", "freeze"], check=True, capture_output=True, text=True).stdout
    versions = {}
    for line in out.splitlines():
        if "==" in line:
            package, version = line.split("==", 1)
            versions[package.lower()] = version
    return versions
