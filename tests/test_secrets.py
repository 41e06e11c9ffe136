"""A password in the source and warehouse URLs never shows up in what a sync writes or prints."""

from __future__ import annotations

import asyncio
import os
import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from tests.support.services import MARIADB_ADMIN_URL, unique_name

pytestmark = pytest.mark.integration

SOURCE_PASSWORD = "Src-Pw-7f3a9c"
WAREHOUSE_PASSWORD = "Wh-Pw-41be2d"


@pytest.fixture
def read_only_source(mariadb_url):
    """A MariaDB user with SELECT only on the test database, and a password."""
    admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    user = unique_name("ro")[:30]
    database = sa.engine.make_url(mariadb_url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f"create user '{user}'@'%' identified by '{SOURCE_PASSWORD}'"))
        conn.execute(sa.text(f"grant select on `{database}`.* to '{user}'@'%'"))
    try:
        yield mariadb_url, f"mysql+pymysql://{user}:{SOURCE_PASSWORD}@127.0.0.1:3306/{database}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"drop user if exists '{user}'@'%'"))
        admin.dispose()


def artifact_texts(api_url: str) -> list[str]:
    from prefect.client.orchestration import get_client

    async def read() -> list[str]:
        async with get_client() as client:
            artifacts = await client.read_artifacts()
            runs = await client.read_flow_runs()
            return [str(a.data) + str(a.description) for a in artifacts] + [str(r.parameters) for r in runs]

    return asyncio.run(read())


def test_passwords_never_appear_in_output_files_or_artifacts(read_only_source, postgres_url, olist_home, monkeypatch, capsys, prefect_api):
    # Arrange: seed as root; sync as a SELECT-only user with a password, warehouse URL with a password.
    admin_source, ro_source = read_only_source
    monkeypatch.setenv("OLIST_HOME", str(olist_home))
    monkeypatch.setenv("OLIST_SOURCE_URL", admin_source)
    assert main(["seed-source", "--scale", "0.005", "--seed", "2"]) == 0
    warehouse_url = sa.engine.make_url(postgres_url).set(password=WAREHOUSE_PASSWORD).render_as_string(hide_password=False)
    env = dict(os.environ, OLIST_HOME=str(olist_home), OLIST_SOURCE_URL=ro_source, OLIST_WAREHOUSE_URL=warehouse_url)

    # Act: a promoted sync, then a failing one (wrong warehouse database) whose error is printed.
    ok = subprocess.run([sys.executable, "-m", "olist_etl.app.cli", "sync", "--mode", "full", "--json"],
                        capture_output=True, text=True, env=env, timeout=600)
    bad_env = dict(env, OLIST_WAREHOUSE_URL=warehouse_url.rsplit("/", 1)[0] + "/no_such_db_" + unique_name("x"))
    failed = subprocess.run([sys.executable, "-m", "olist_etl.app.cli", "sync", "--mode", "full", "--json"],
                            capture_output=True, text=True, env=bad_env, timeout=600)

    # Assert: the extract worked with SELECT only; no password anywhere a user or analyst can read.
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert failed.returncode == 1 and json.loads(failed.stdout)["status"] == "error"  # one JSON object
    assert "no_such_db" in failed.stderr  # the error is readable...
    written = [p for p in olist_home.rglob("*") if p.is_file() and "warehouse-pg" not in p.parts]
    assert any(p.name == "manifest.json" for p in written) and any(p.suffix == ".html" for p in written)
    texts = [ok.stdout, ok.stderr, failed.stdout, failed.stderr] + artifact_texts(prefect_api)
    texts += [p.read_bytes().decode("utf-8", "replace") for p in written if not p.name.endswith(".gz")]
    for secret in (SOURCE_PASSWORD, WAREHOUSE_PASSWORD):
        leaks = [t[max(0, t.find(secret) - 80): t.find(secret) + 40] for t in texts if secret in t]
        assert not leaks, f"{secret} leaked: {leaks[:2]}"
