"""The package's layers: the library below thin orchestration, and tests that stand alone.

- olist_etl (outside olist_etl/app, the CLI and the demo) never imports flows/ or tasks/, at import
  time or inside a function;
- no import cycle among the library's modules;
- no test module imports another test module (shared helpers live in tests/support/);
- a test that uses a service without the `integration` mark fails, so `-m "not integration"`
  really runs without services.
Each rule is checked by a function that is also shown failing on a planted example.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORCHESTRATION = ("flows", "tasks")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, name: str, *, top_level_only: bool) -> set[str]:
    """Modules a file imports (absolute names; `from pkg import mod` counts as pkg.mod too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:
        # Imports under `if TYPE_CHECKING:` never run; `try:` bodies at top level do.
        expanded = []
        for node in nodes:
            if isinstance(node, ast.Try):
                expanded.extend(node.body)
            elif not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
                expanded.append(node)
        nodes = expanded
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def core_files(package: Path) -> list[Path]:
    return [p for p in sorted(package.rglob("*.py")) if "app" not in p.relative_to(package).parts[:1]]


def orchestration_imports(package: Path) -> dict[str, list[str]]:
    """Core modules that import flows/ or tasks/ anywhere in their code."""
    offenders = {}
    for path in core_files(package):
        name = module_name(path, package.parent)
        bad = sorted(m for m in imported_modules(path, name, top_level_only=False) if m.split(".")[0] in ORCHESTRATION)
        if bad:
            offenders[name] = bad
    return offenders


def import_cycles(package: Path) -> list[list[str]]:
    """Cycles among the package's module-level imports (what runs when a module is imported)."""
    files = {module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}
    graph = {
        name: sorted(m for m in imported_modules(path, name, top_level_only=True) if m in files and m != name)
        for name, path in files.items()
    }
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            # A package's __init__ imported on the way to its submodule is not an edge back.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name)
    return cycles


def test_modules_imports(tests_dir: Path) -> dict[str, list[str]]:
    """Test modules that import another test module or conftest (instead of tests/support/)."""
    offenders = {}
    for path in sorted(tests_dir.rglob("*.py")):
        name = module_name(path, tests_dir.parent)
        bad = sorted(
            m for m in imported_modules(path, name, top_level_only=False)
            if m.startswith(f"{tests_dir.name}.") and m.split(".")[1].startswith(("test_", "conftest"))
        )
        if bad:
            offenders[name] = bad
    return offenders


test_modules_imports.__test__ = False  # a helper, not a test


def plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return tmp_path


def test_the_core_never_imports_flows_or_tasks():
    assert orchestration_imports(ROOT / "olist_etl") == {}


def test_importing_every_core_module_loads_neither_flows_nor_tasks():
    modules = [module_name(p, ROOT) for p in core_files(ROOT / "olist_etl")]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('flows', 'tasks'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert len(modules) > 20  # the walk found the library, not an empty folder


def test_a_core_module_reaching_into_tasks_is_found_even_inside_a_function(tmp_path):
    package = plant(tmp_path, {
        "lib/__init__.py": "",
        "lib/fine.py": "import os\n",
        "lib/reaches_up.py": "def run():\n    from tasks.load import load_table\n    return load_table\n",
        "lib/app/cli.py": "from flows.olist_sync import olist_sync\n",  # the CLI may
    }) / "lib"
    assert orchestration_imports(package) == {"lib.reaches_up": ["tasks.load", "tasks.load.load_table"]}


def test_the_library_has_no_import_cycle():
    assert import_cycles(ROOT / "olist_etl") == []


def test_a_planted_import_cycle_is_found(tmp_path):
    package = plant(tmp_path, {
        "lib/__init__.py": "",
        "lib/a.py": "from lib import b\n",
        "lib/b.py": "from lib.c import thing\n",
        "lib/c.py": "import lib.a\nthing = 1\n",
        "lib/lazy.py": "def f():\n    import lib.a\n",  # inside a function: not an import-time cycle
    }) / "lib"
    assert import_cycles(package) == [["lib.a", "lib.b", "lib.c", "lib.a"]]


def test_no_test_module_imports_another():
    assert test_modules_imports(ROOT / "tests") == {}


def test_a_test_importing_another_test_module_is_found(tmp_path):
    tests_dir = plant(tmp_path, {
        "tests/__init__.py": "",
        "tests/support/__init__.py": "",
        "tests/support/pipeline.py": "",
        "tests/test_a.py": "from tests.support.pipeline import *\n",
        "tests/test_b.py": "from tests.test_a import helper\nfrom tests.conftest import make_settings\n",
    }) / "tests"
    assert test_modules_imports(tests_dir) == {"tests.test_b": ["tests.conftest", "tests.conftest.make_settings", "tests.test_a", "tests.test_a.helper"]}


def test_a_service_test_without_the_integration_mark_fails(tmp_path):
    # The project's own conftest, beside a planted test module that uses PostgreSQL unmarked and
    # one that is marked; run as a user would run the unit tests.
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_planted.py").write_text(
        "import pytest\n\n"
        "def test_unmarked(postgres_url):\n    pass\n\n"
        "@pytest.mark.integration\ndef test_marked(postgres_url):\n    pass\n\n"
        "def test_no_service():\n    pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "-o", "markers=integration: needs services", str(tmp_path / "test_planted.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout
    assert "test_unmarked uses PostgreSQL but is not marked integration" in out, out[-3000:]
    # PostgreSQL may be down on a developer machine: the marked test then skips, the unmarked still errors.
    assert re.search(r"(2 passed|1 passed, 1 skipped), 1 error", out), out[-3000:]
