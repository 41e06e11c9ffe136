"""The Prefect work pools' container image: the Dockerfile checked statically.

No Docker daemon runs on the development machines or in CI, so building the image is not a test
here (a test that can only skip proves nothing): scripts/check_image.sh builds and checks it where
Docker runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
RUNTIME_LOCK = "requirements-runtime.lock"
# What a flow run loads from OLIST_ETL_DIR (the pull step changes into it).
FLOW_NEEDS = ("olist_etl/", "flows/", "tasks/", "sql/", "expectations/")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|_URL$|_URI$|_DSN$", re.I)
SECRET_VALUE = re.compile(r"://|AKIA[0-9A-Z]{12,}|hooks\.slack\.com|password", re.I)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), " ".join(rest.split())))
    return out


def env_pairs(arguments: str) -> list[tuple[str, str]]:
    """ENV/ARG name=value pairs (also the legacy `ENV NAME value` form)."""
    pairs = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S*)", arguments)
    if not pairs:
        name, _, value = arguments.partition(" ")
        pairs = [(name, value)]
    return pairs


def dockerfile_problems(text: str) -> list[str]:
    """Everything wrong with a Dockerfile for the work pools; empty when it is fit."""
    steps = instructions(text)
    problems = []
    base = [args for kw, args in steps if kw == "FROM"]
    if not base or not base[-1].startswith("python:3.11-slim"):
        problems.append(f"base image is {base[-1] if base else 'missing'}, not python:3.11-slim")
    users = [(i, args) for i, (kw, args) in enumerate(steps) if kw == "USER"]
    if not users or users[-1][1].split(":")[0] in ("root", "0"):
        problems.append("the image runs as root (no non-root USER last)")
    elif any(kw == "RUN" for kw, _ in steps[users[-1][0] + 1 :]) or not any(kw in ("CMD", "ENTRYPOINT") for kw, _ in steps[users[-1][0] :]):
        problems.append("USER must come after every RUN and before the CMD/ENTRYPOINT")
    runs = " ; ".join(args for kw, args in steps if kw == "RUN")
    copies = [args.split() for kw, args in steps if kw in ("COPY", "ADD")]
    copied = {src.rstrip("/") for parts in copies for src in parts[:-1] if not src.startswith("--")}
    if RUNTIME_LOCK not in copied or not re.search(rf"pip install --require-hashes -r {re.escape(RUNTIME_LOCK)}", runs):
        problems.append(f"dependencies are not installed hash-checked from {RUNTIME_LOCK}")
    if not re.search(r"pip install --no-deps \.", runs):
        problems.append("the project is not installed (pip install --no-deps .)")
    for needed in FLOW_NEEDS:
        if needed.rstrip("/") not in copied:
            problems.append(f"{needed} is not copied into the image")
    for kw, args in steps:
        if kw in ("ENV", "ARG"):
            for name, value in env_pairs(args):
                if SECRET_NAME.search(name) or SECRET_VALUE.search(value):
                    problems.append(f"{kw} {name} looks like a secret or a URL baked into the image")
    return problems


def test_the_dockerfile_fits_the_work_pools():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []
    # The code the flow loads sits at OLIST_ETL_DIR, the deployments' working directory.
    text = DOCKERFILE.read_text()
    assert re.search(r"^\s*OLIST_ETL_DIR=/app\b", text, re.M) and re.search(r"^WORKDIR /app$", text, re.M)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t.replace("USER olist", "USER root"), "runs as root"),
        (lambda t: t.replace("USER olist\n", ""), "runs as root"),
        (lambda t: t.replace("COPY sql/ sql/\n", ""), "sql/ is not copied"),
        (lambda t: t.replace("COPY expectations/ expectations/\n", ""), "expectations/ is not copied"),
        (lambda t: t.replace("--require-hashes -r requirements-runtime.lock", "-r requirements-runtime.lock"), "hash-checked"),
        (lambda t: t.replace("RUN pip install --no-deps .", "RUN true"), "project is not installed"),
        (lambda t: t.replace("OLIST_ETL_DIR=/app", "OLIST_WAREHOUSE_URL=postgresql://etl:pw@db/olist"), "OLIST_WAREHOUSE_URL looks like a secret"),
        (lambda t: t.replace("FROM python:3.11-slim", "FROM python:3.11-slim\nARG AWS_SECRET_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY looks like a secret"),
        (lambda t: t.replace("    PYTHONUNBUFFERED=1 \\", "    PYTHONUNBUFFERED=1 \\\n    HOOK=https://hooks.slack.com/services/x \\"), "HOOK looks like a secret"),
        (lambda t: t.replace("FROM python:3.11-slim", "FROM python:3.12"), "not python:3.11-slim"),
    ],
)
def test_a_broken_dockerfile_is_caught(change, problem):
    text = DOCKERFILE.read_text()
    broken = change(text)
    assert broken != text, "the mutation did not apply: update this test with the Dockerfile"
    assert any(problem in p for p in dockerfile_problems(broken)), dockerfile_problems(broken)


def test_the_image_lock_is_the_test_lock_without_the_test_extra():
    def pins(name: str) -> dict[str, str]:
        return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / name).read_text(), re.M))

    full, runtime = pins("requirements.lock"), pins(RUNTIME_LOCK)
    assert runtime and {name: full.get(name) for name in runtime} == runtime, "run scripts/lock.sh"
    assert "prefect" in runtime and "great-expectations" in runtime and "prefect-aws" in runtime
    assert "pytest" in full and "pytest" not in runtime and "moto" not in runtime


def test_the_build_context_leaves_out_local_state_and_secrets():
    lines = [l.strip() for l in DOCKERIGNORE.read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "*", "an allow-list: only what the Dockerfile copies enters the context"
    allowed = {l[1:].rstrip("/") for l in lines if l.startswith("!")}
    assert not allowed & {".env", ".olist", ".venv", ".git", "tests"}, allowed
    copied = {src.rstrip("/") for kw, args in instructions(DOCKERFILE.read_text()) if kw == "COPY" for src in args.split()[:-1]}
    assert copied <= allowed, f"copied but excluded from the context: {copied - allowed}"
