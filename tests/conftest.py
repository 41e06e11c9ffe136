"""Fixtures for the real services: MariaDB, PostgreSQL and a moto S3 server.

Each fixture creates a uniquely named database or bucket and drops it afterwards. When a service
is unreachable the test is skipped with the reason, except under CI (the `CI` variable set), where
it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from olist_etl.settings import SecretUrl, Settings

MARIADB_ADMIN_URL = os.environ.get("OLIST_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
POSTGRES_ADMIN_URL = os.environ.get("OLIST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "olist-real"


def unavailable(reason: str) -> None:
    """Skip with a reason on a developer machine; fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"service required in CI: {reason}")
    pytest.skip(reason)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _quiet_prefect(monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@contextlib.contextmanager
def mariadb_database() -> Iterator[str]:
    """A fresh MariaDB database for any scope; yields its URL and drops it afterwards."""
    admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except Exception as err:
        unavailable(f"MariaDB unreachable at {MARIADB_ADMIN_URL}: {err.__class__.__name__}")
    name = unique_name("olist_t")
    with admin.connect() as conn:
        conn.execute(sa.text(f"create database `{name}` character set utf8mb4 collate utf8mb4_bin"))
    try:
        yield sa.engine.make_url(MARIADB_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"drop database if exists `{name}`"))
        admin.dispose()


@pytest.fixture
def mariadb_url():
    with mariadb_database() as url:
        yield url


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for any scope; yields its URL and drops it afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect():
            pass
    except Exception as err:
        unavailable(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {err.__class__.__name__}")
    name = unique_name("olist_t")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    try:
        yield sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture
def postgres_url():
    with postgres_database() as url:
        yield url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto S3 server in server mode on a free loopback port (no in-process patching)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as err:
        unavailable(f"moto[server] is not installed: {err}")
    port = _free_port()
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


@contextlib.contextmanager
def s3_bucket(endpoint: str) -> Iterator[str]:
    """A fresh bucket on the moto server; yields `s3://bucket/olist` and deletes the bucket afterwards."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    bucket = unique_name("olist-t").replace("_", "-")
    client.create_bucket(Bucket=bucket)
    try:
        yield f"s3://{bucket}/olist"
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_staging_url(moto_endpoint):
    with s3_bucket(moto_endpoint) as url:
        yield url


@pytest.fixture
def olist_home(tmp_path) -> Path:
    home = tmp_path / "olist-home"
    home.mkdir()
    return home


def make_settings(home: Path, *, source_url: str, warehouse_url: str | None, staging_url: str | None = None, **extra) -> Settings:
    """Settings for a test, with no environment or .env involved."""
    return Settings(
        home=home,
        source_url=SecretUrl(source_url),
        warehouse_url=SecretUrl(warehouse_url) if warehouse_url else None,
        staging_url=staging_url or (home / "staging").as_uri(),
        **extra,
    )


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
