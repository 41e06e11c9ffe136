"""`olist-etl check` against the real services: MariaDB source, PostgreSQL warehouse, local and
moto S3 staging. Each passing setup has its failing twin: a closed port, a missing bucket, a
missing column, a user without the privileges, a Redshift setting left out."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa

from olist_etl.check import run_checks
from olist_etl.app.cli import main
from olist_etl.db import source_engine
from olist_etl.source import create_source_schema
from tests.support.services import MARIADB_ADMIN_URL, POSTGRES_ADMIN_URL, make_settings

pytestmark = pytest.mark.integration

PASSWORD = "pw-" + uuid.uuid4().hex[:8]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def source_url(mariadb_url, olist_home) -> str:
    """A MariaDB source with the catalog's tables (empty: check reads no rows)."""
    engine = source_engine(make_settings(olist_home, source_url=mariadb_url, warehouse_url=None))
    create_source_schema(engine, drop_existing=False)
    engine.dispose()
    return mariadb_url


@pytest.fixture
def env(monkeypatch, olist_home, source_url, postgres_url):
    values = {"OLIST_HOME": str(olist_home), "OLIST_SOURCE_URL": source_url, "OLIST_WAREHOUSE_URL": postgres_url}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in ("OLIST_STAGING_URL", "OLIST_BLOCKS", "PREFECT_API_URL", "OLIST_REDSHIFT_IAM_ROLE"):
        monkeypatch.delenv(key, raising=False)
    return values


def lines_of(out: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        status, name = line.split()[:2]
        found.setdefault(name, []).append(f"{status} {line}")
    return found


def test_check_passes_on_a_good_setup_with_local_staging(env, olist_home):
    started = time.monotonic()
    code, out, err = cli("check")

    assert code == 0, out + err
    assert time.monotonic() - started < 10
    found = lines_of(out)
    assert set(found) == {"source", "warehouse", "staging"}, out
    assert found["source"][0].startswith("ok ") and "9 tables" in found["source"][0]
    assert found["warehouse"][0].startswith("ok ") and "schemas will be created" in found["warehouse"][0]
    assert found["staging"][0].startswith("ok ") and "probe written, read back and removed" in found["staging"][0]
    # root holds ALL PRIVILEGES: information, not a failure.
    assert any(line.startswith("info ") and "ALL PRIVILEGES" in line for line in found["source"]), out
    # The probe is gone.
    assert not any(p.is_file() for p in (olist_home / "staging").rglob("*"))


def test_check_passes_with_s3_staging_and_leaves_no_probe(env, monkeypatch, s3_staging_url, moto_endpoint):
    import boto3

    monkeypatch.setenv("OLIST_STAGING_URL", s3_staging_url)
    code, out, err = cli("check", "--json")

    assert code == 0, out + err
    report = json.loads(out)
    assert report["status"] == "ok"
    staging = [c for c in report["checks"] if c["name"] == "staging"]
    assert staging[0]["status"] == "ok" and moto_endpoint in staging[0]["detail"]
    bucket = s3_staging_url.split("/")[2]
    assert boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_missing_bucket_is_named(env, monkeypatch, moto_endpoint):
    bucket = f"olist-missing-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OLIST_STAGING_URL", f"s3://{bucket}/olist")

    code, out, err = cli("check")

    assert code == 1
    (line,) = lines_of(out)["staging"]
    assert line.startswith("FAIL ") and f"bucket {bucket} does not exist" in line, out
    assert lines_of(out)["source"][0].startswith("ok ")  # the other checks still ran


def test_an_unreachable_warehouse_fails_within_15s_naming_it(env, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("OLIST_WAREHOUSE_URL", f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/olist")

    started = time.monotonic()
    code, out, err = cli("check")

    assert code == 1
    assert time.monotonic() - started < 15
    (line,) = lines_of(out)["warehouse"]
    assert line.startswith("FAIL ") and "OLIST_WAREHOUSE_URL" in line and f"port {port}" in line, out
    assert "Connection refused" in line
    assert PASSWORD not in out + err


def test_a_source_missing_a_column_is_named(env, source_url):
    engine = sa.create_engine(source_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE `orders` DROP COLUMN `order_status`"))
    engine.dispose()

    code, out, err = cli("check")

    assert code == 1
    (line,) = lines_of(out)["source"]
    assert line.startswith("FAIL ") and "orders.order_status" in line, out
    assert "order_items" not in line  # only what is missing


@contextlib.contextmanager
def mariadb_user(grants: list[str]):
    """A MariaDB user with exactly these grants (formatted with {user}); yields its name."""
    admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    user = f"chk_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'"))
        for grant in grants:
            conn.execute(sa.text(grant.format(user=f"'{user}'@'%'")))
    try:
        yield user
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()


def as_user(url: str, user: str) -> str:
    return sa.engine.make_url(url).set(username=user, password=PASSWORD).render_as_string(hide_password=False)


def test_a_select_only_source_user_passes_without_a_privilege_notice(env, monkeypatch, source_url):
    database = sa.engine.make_url(source_url).database
    with mariadb_user([f"GRANT SELECT ON `{database}`.* TO {{user}}"]) as user:
        monkeypatch.setenv("OLIST_SOURCE_URL", as_user(source_url, user))
        code, out, err = cli("check")

    assert code == 0, out + err
    assert [line.split()[0] for line in lines_of(out)["source"]] == ["ok"], out
    assert PASSWORD not in out + err


def test_a_source_user_without_select_on_a_table_fails_naming_it(env, monkeypatch, source_url):
    database = sa.engine.make_url(source_url).database
    from olist_etl.tables import TABLE_NAMES

    grants = [f"GRANT SELECT ON `{database}`.`{t}` TO {{user}}" for t in TABLE_NAMES if t != "orders"]
    with mariadb_user(grants) as user:
        monkeypatch.setenv("OLIST_SOURCE_URL", as_user(source_url, user))
        code, out, err = cli("check")

    assert code == 1
    (line,) = lines_of(out)["source"]
    assert line.startswith("FAIL ") and "table orders" in line and "not readable" in line, out


@contextlib.contextmanager
def postgres_role(database: str, grants: list[str]):
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    role = f"chk_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        for grant in grants:
            conn.execute(sa.text(grant.format(role=f'"{role}"', database=f'"{database}"')))
    try:
        yield role
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_a_warehouse_role_needs_create_on_the_database(env, monkeypatch, postgres_url):
    database = sa.engine.make_url(postgres_url).database
    with postgres_role(database, []) as role:
        monkeypatch.setenv("OLIST_WAREHOUSE_URL", sa.engine.make_url(postgres_url).set(username=role).render_as_string(False))
        code, out, _ = cli("check")
        assert code == 1
        (line,) = lines_of(out)["warehouse"]
        assert line.startswith("FAIL ") and f"no CREATE on database {database}" in line, out

        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'GRANT CREATE ON DATABASE "{database}" TO "{role}"'))
        admin.dispose()
        code, out, _ = cli("check")
        assert code == 0, out
        assert [line.split()[0] for line in lines_of(out)["warehouse"]] == ["ok"], out  # not a superuser


def test_existing_warehouse_tables_must_be_the_users_own(env, monkeypatch, warehouse):
    settings, engine, _ = warehouse  # schemas and tables created by postgres
    url = engine.url
    with postgres_role(url.database, ["GRANT CREATE ON DATABASE {database} TO {role}"]) as role:
        monkeypatch.setenv("OLIST_WAREHOUSE_URL", url.set(username=role).render_as_string(False))
        code, out, _ = cli("check")

    assert code == 1
    (line,) = lines_of(out)["warehouse"]
    assert "has no USAGE and CREATE on schema staging_layer" in line, out
    assert "does not own" in line and "etl_control." in line

    # The owner passes on the same warehouse.
    monkeypatch.setenv("OLIST_WAREHOUSE_URL", url.render_as_string(False))
    code, out, _ = cli("check")
    assert code == 0, out
    assert "schemas staging_layer, user_access_layer, etl_control usable" in out


def test_embedded_warehouse_not_running_is_information_and_starts_nothing(env, monkeypatch, olist_home):
    monkeypatch.delenv("OLIST_WAREHOUSE_URL")
    code, out, _ = cli("check")

    assert code == 0, out
    (line,) = lines_of(out)["warehouse"]
    assert line.startswith("info ") and "not running: sync will start it" in line
    assert not (olist_home / "warehouse-pg").exists()


def test_redshift_settings_are_checked(olist_home, source_url, monkeypatch, tmp_path):
    # No region anywhere boto3 looks (the moto fixture may have exported one for the session).
    for key in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    redshift = f"redshift://u:{PASSWORD}@127.0.0.1:{closed_port()}/dev"
    bare = make_settings(olist_home, source_url=source_url, warehouse_url=redshift)
    report = run_checks(bare, environ={})
    (line,) = [r for r in report.results if r.name == "redshift"]
    assert line.failed
    assert "OLIST_REDSHIFT_IAM_ROLE is not set" in line.detail and "no AWS region" in line.detail
    assert "OLIST_STAGING_URL must be s3://" in line.detail

    ready = make_settings(
        olist_home, source_url=source_url, warehouse_url=redshift, staging_url="s3://bucket/olist",
        redshift_iam_role="arn:aws:iam::123456789012:role/olist-copy",
    )
    report = run_checks(ready, environ={"AWS_DEFAULT_REGION": "sa-east-1"})
    (line,) = [r for r in report.results if r.name == "redshift"]
    assert line.status == "ok" and "sa-east-1" in line.detail
    (wh,) = [r for r in report.results if r.name == "warehouse"]
    assert wh.failed and PASSWORD not in wh.detail


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args):
        pass


def test_prefect_api_is_checked_when_configured(env, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{server.server_port}/api")
        code, out, _ = cli("check")
        assert code == 0, out
        assert lines_of(out)["prefect"][0].startswith("ok ")
    finally:
        server.shutdown()
        server.server_close()

    port = closed_port()
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
    code, out, _ = cli("check")
    assert code == 1
    (line,) = lines_of(out)["prefect"]
    assert line.startswith("FAIL ") and f"PREFECT_API_URL http://127.0.0.1:{port}/api: unreachable" in line
