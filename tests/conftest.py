"""Fixtures for the real services: MariaDB, PostgreSQL and a moto S3 server.

Each fixture creates a uniquely named database or bucket and drops it afterwards. When a service
is unreachable the test is skipped with the reason, except under CI (the `CI` variable set), where
it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.services import (
    SHARED_REAL,
    free_port,
    make_settings,
    mariadb_database,
    postgres_database,
    require_integration_mark,
    s3_bucket,
    set_current_item,
    unavailable,
)


def pytest_runtest_setup(item: pytest.Item) -> None:
    set_current_item(item)


@pytest.fixture(autouse=True)
def _quiet_prefect(monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture
def mariadb_url():
    with mariadb_database() as url:
        yield url


@pytest.fixture
def postgres_url():
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto S3 server in server mode on a free loopback port (no in-process patching)."""
    require_integration_mark("a moto S3 server")
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as err:
        unavailable(f"moto[server] is not installed: {err}")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_staging_url(moto_endpoint):
    with s3_bucket(moto_endpoint) as url:
        yield url


@pytest.fixture
def olist_home(tmp_path) -> Path:
    home = tmp_path / "olist-home"
    home.mkdir()
    return home


@pytest.fixture
def shared_real() -> Path:
    """../shared/olist-real: real Olist rows, read in place (never copied into the project)."""
    if not (SHARED_REAL / "olist_products_dataset.csv").exists():
        unavailable(f"real Olist rows not found at {SHARED_REAL}")
    return SHARED_REAL


@pytest.fixture(scope="session")
def prefect_api():
    """One Prefect API for the whole session (its start-up takes seconds); subprocesses use it too."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    saved = os.environ.get("PREFECT_API_URL")
    with prefect_test_harness(server_startup_timeout=90):
        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()
        try:
            yield os.environ["PREFECT_API_URL"]
        finally:
            if saved is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = saved


@pytest.fixture
def warehouse(postgres_url, olist_home, tmp_path):
    """A PostgreSQL warehouse with every schema created: (settings, engine, local staging area)."""
    from olist_etl.db import warehouse_engine
    from olist_etl.staging import LocalStaging
    from olist_etl.load import create_warehouse

    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url, staging_url=(tmp_path / "staging").as_uri())
    create_warehouse(settings)
    engine = warehouse_engine(settings)
    yield settings, engine, LocalStaging(tmp_path / "staging")
    engine.dispose()
