"""The real services the integration tests use (MariaDB, PostgreSQL, a moto S3 server) and the
settings they run with. Each helper creates a uniquely named database or bucket and drops it; an
unreachable service skips the test with the reason, except under CI, where it fails."""

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
SHARED_REAL = Path(__file__).resolve().parents[3] / "shared" / "olist-real"


def unavailable(reason: str) -> None:
    """Skip with a reason on a developer machine; fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"service required in CI: {reason}")
    pytest.skip(reason)


# The test being set up: the service fixtures below refuse a test that is not marked integration,
# so `-m "not integration"` really runs without services (checked where the service is used, which
# also covers module fixtures that open a database for many tests).
_current_item: pytest.Item | None = None


def set_current_item(item: pytest.Item) -> None:
    global _current_item
    _current_item = item


def require_integration_mark(service: str) -> None:
    if _current_item is not None and _current_item.get_closest_marker("integration") is None:
        pytest.fail(f"{_current_item.nodeid} uses {service} but is not marked integration (pytestmark = pytest.mark.integration)", pytrace=False)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def mariadb_database() -> Iterator[str]:
    """A fresh MariaDB database for any scope; yields its URL and drops it afterwards."""
    require_integration_mark("MariaDB")
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


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for any scope; yields its URL and drops it afterwards."""
    require_integration_mark("PostgreSQL")
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def make_settings(home: Path, *, source_url: str, warehouse_url: str | None, staging_url: str | None = None, **extra) -> Settings:
    """Settings for a test, with no environment or .env involved."""
    return Settings(
        home=home,
        source_url=SecretUrl(source_url),
        warehouse_url=SecretUrl(warehouse_url) if warehouse_url else None,
        staging_url=staging_url or (home / "staging").as_uri(),
        **extra,
    )


