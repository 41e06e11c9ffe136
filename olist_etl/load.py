"""Create the warehouse and load a staged run into the staging_layer delta tables.

PostgreSQL: each part is streamed from the staging area through gzip into `COPY ... FROM STDIN`
in ~1 MiB chunks, so a part is never held in memory. Redshift: one `COPY ... MANIFEST` per table
reads the parts straight from S3. Either way the delta table is emptied and refilled in one
transaction: a failed load leaves it exactly as it was.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import zlib

import psycopg
import sqlalchemy as sa

from olist_etl.db import dialect_of, warehouse_engine
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render, sql_files, statements
from olist_etl.warehouse.migrate import add_missing_columns
from olist_etl.staging import StagingArea, open_staging, write_json
from olist_etl.tables import TABLES, UPDATED_AT, SourceTable, get_table
from olist_etl.progress import Progress
from olist_etl.stage import NULL_MARKER

log = logging.getLogger(__name__)

WAREHOUSE_DIALECTS = ("postgresql", "redshift")

# Rendered and executed in this order: the schemas must exist before the tables.
DDL_FILES = (
    "warehouse/ddl/schemas.sql",
    "warehouse/ddl/etl_control.sql",
    "warehouse/ddl/staging_layer.sql",
    "warehouse/ddl/user_access_layer.sql",
)

# Bytes handed to COPY at a time: large enough to keep the round trips few, small enough that a
# part of any size streams in constant memory.
COPY_CHUNK_BYTES = 1 << 20

# The manifest URI and IAM role are literals in Redshift's COPY (it cannot bind them), so only
# these shapes are ever rendered: no quote, backslash, whitespace or percent sign can pass.
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[A-Za-z0-9_./=+:@\-]+$")
_IAM_ROLE = re.compile(r"^arn:aws:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$")
# The staged NULL marker is a literal in both COPYs; it is a constant, checked once here anyway.
if not re.fullmatch(r"[~A-Za-z]+", NULL_MARKER):
    raise RuntimeError(f"the staged NULL marker {NULL_MARKER!r} cannot be written into COPY as a literal")


class LoadError(RuntimeError):
    """A staged run cannot be loaded as it is (bad value, wrong layout, row counts that differ).

    Retrying does not help; I/O errors (S3, network) are raised as they are and are retried.
    """

    retryable = False


def _warehouse_dialect(settings: Settings) -> str:
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    dialect = dialect_of(settings.warehouse_url)
    if dialect not in WAREHOUSE_DIALECTS:
        raise ValueError(f"the warehouse must be PostgreSQL or Redshift, not {dialect}")
    return dialect


def ddl_sql(dialect: str) -> list[tuple[str, str]]:
    """(file, rendered SQL) of every DDL file for a dialect, in execution order."""
    return [(path, render(path, dialect, tables=TABLES, updated_at=UPDATED_AT)) for path in DDL_FILES]


# The analytics views BI tools read, one file per view; they read the star schema's tables, so
# they are created after them.
VIEWS_FOLDER = "warehouse/views"


def view_sql(dialect: str) -> list[tuple[str, str]]:
    """(file, rendered SQL) of every analytics view for a dialect."""
    return [(path, render(path, dialect)) for path in sql_files(VIEWS_FOLDER)]


def create_warehouse(settings: Settings) -> None:
    """Create the schemas and tables that do not exist yet (every statement is IF NOT EXISTS), then
    the analytics views (CREATE OR REPLACE: the current definitions, with their grants kept)."""
    dialect = _warehouse_dialect(settings)
    engine = warehouse_engine(settings)
    try:
        with engine.begin() as conn:
            for path, sql in ddl_sql(dialect):
                for statement in statements(sql):
                    # Driver-level execution: DDL has no parameters, and SQLAlchemy's text()
                    # would read any ':word' in it as one.
                    conn.exec_driver_sql(statement)
            # A warehouse created by an older release gets the columns added since (the views
            # below read them).
            added = add_missing_columns(conn, dialect)
            if added:
                log.info("warehouse columns added: %s", ", ".join(added))
            for path, sql in view_sql(dialect):
                for statement in statements(sql):
                    conn.exec_driver_sql(statement)
        log.info("warehouse schema ready (%s)", dialect)
    finally:
        engine.dispose()


def _table_entry(manifest: dict, source: SourceTable) -> dict:
    """The manifest entry of a table, checked against the catalog before anything runs."""
    try:
        entry = manifest["tables"][source.name]
    except (KeyError, TypeError):
        raise LoadError(f"run {manifest.get('run_id')!r} has no manifest entry for {source.name}") from None
    expected = list(source.staged_columns)
    if list(entry.get("columns", [])) != expected:
        raise LoadError(
            f"{source.name}: the manifest columns {entry.get('columns')} differ from the catalog's {expected}"
        )
    parts = entry.get("parts") or []
    if sum(int(p["rows"]) for p in parts) != int(entry["rows"]):
        raise LoadError(f"{source.name}: the manifest's parts add up to a different row count than its rows field")
    return entry


def load_table(settings: Settings, manifest: dict, table: str) -> int:
    """Replace staging_layer.<table> by the run's staged rows; returns the number of rows loaded."""
    source = get_table(table)
    entry = _table_entry(manifest, source)
    dialect = _warehouse_dialect(settings)
    if dialect == "redshift":
        loaded = _load_redshift(settings, manifest, source, entry)
    else:
        loaded = _load_postgres(settings, source, entry)
    log.info("loaded %s rows into staging_layer.%s", loaded, source.name)
    return loaded


def _load_postgres(settings: Settings, source: SourceTable, entry: dict) -> int:
    area = open_staging(settings.staging_url)
    clear_sql = render("warehouse/load/clear_delta.sql", "postgresql", table=source.name)
    analyze_sql = render("warehouse/load/analyze_delta.sql", "postgresql", table=source.name)
    copy_sql = render(
        "warehouse/load/copy_postgres.sql", "postgresql", table=source.name, columns=source.staged_columns,
        null_marker=NULL_MARKER,
    )
    engine = warehouse_engine(settings)
    progress = Progress("load", source.name, f"Rows of {source.name} copied into staging_layer", total=int(entry["rows"]))
    raw = engine.raw_connection()
    try:
        # The psycopg 3 connection under SQLAlchemy's pool: COPY FROM STDIN needs cursor.copy().
        conn: psycopg.Connection = raw.driver_connection
        try:
            with conn.cursor() as cur:
                for statement in statements(clear_sql):
                    cur.execute(statement)
                loaded = 0
                for part in entry.get("parts") or []:
                    loaded += _copy_part(cur, area, statements(copy_sql)[0], source.name, part)
                    progress.update(loaded)
                for statement in statements(analyze_sql):
                    cur.execute(statement)
            if loaded != int(entry["rows"]):
                raise LoadError(
                    f"{source.name}: loaded {loaded} rows but the manifest lists {entry['rows']}"
                )
            conn.commit()
        except BaseException:
            # On a dropped connection the rollback fails too; the original error must survive it,
            # or a permanent LoadError would turn into a retried OperationalError.
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise
        progress.finish()
        return loaded
    finally:
        raw.close()
        engine.dispose()


def _copy_part(cur: psycopg.Cursor, area: StagingArea, copy_sql: str, table: str, part: dict) -> int:
    key = part["key"]
    try:
        with area.reader(key) as stream, gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            with cur.copy(copy_sql) as copy:
                while chunk := unzipped.read(COPY_CHUNK_BYTES):
                    copy.write(chunk)
    except psycopg.OperationalError:
        raise  # the connection dropped (a terminated backend, a restart): I/O, so the task retries
    except psycopg.Error as err:
        raise LoadError(_copy_error_message(table, key, err)) from err
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise LoadError(f"staging_layer.{table}: part {key} is not a valid gzip file: {err}") from err
    loaded = cur.rowcount
    if loaded != int(part["rows"]):
        raise LoadError(f"{table}: part {key} held {loaded} rows but the manifest lists {part['rows']}")
    return loaded


def _copy_error_message(table: str, key: str, err: psycopg.Error) -> str:
    """PostgreSQL's message plus its CONTEXT line, which names the line, column and value."""
    diag = err.diag
    message = diag.message_primary or str(err).strip()
    text = f"loading staging_layer.{table} from part {key} failed: {message}"
    if diag.context:
        # e.g. 'COPY orders, line 3, column order_purchase_timestamp: "not a date"' (line 1 is
        # the header of the part).
        text += f" [{diag.context.strip()}]"
    if diag.message_detail:
        text += f" ({diag.message_detail})"
    return text


def write_copy_manifest(area: StagingArea, manifest: dict, table: str) -> str:
    """Write the Redshift COPY manifest listing a table's parts; returns its URI."""
    source = get_table(table)
    entry = manifest["tables"][source.name]
    key = entry.get("copy_manifest") or f"runs/{manifest['run_id']}/{source.name}/copy.manifest"
    document = {
        "entries": [
            {"url": area.uri(part["key"]), "mandatory": True, "meta": {"content_length": int(part["bytes"])}}
            for part in entry.get("parts") or []
        ]
    }
    write_json(area, key, document)
    return area.uri(key)


def redshift_copy_sql(table: str, manifest_uri: str, iam_role: str) -> str:
    """The COPY that loads a table's parts on Redshift; refuses any URI or role not strictly valid."""
    source = get_table(table)
    if not isinstance(manifest_uri, str) or not _S3_URI.fullmatch(manifest_uri):
        raise ValueError(f"refusing COPY manifest URI {manifest_uri!r}: expected s3://bucket/key of safe characters")
    if not isinstance(iam_role, str) or not _IAM_ROLE.fullmatch(iam_role):
        raise ValueError(f"refusing IAM role {iam_role!r}: expected arn:aws:iam::<12 digits>:role/<name>")
    return render(
        "warehouse/load/copy_redshift.sql",
        "redshift",
        table=source.name,
        columns=source.staged_columns,
        manifest_uri=manifest_uri,
        iam_role=iam_role,
        null_marker=NULL_MARKER,
    )


def _load_redshift(settings: Settings, manifest: dict, source: SourceTable, entry: dict) -> int:
    role = settings.redshift_iam_role
    if not role:
        raise LoadError("loading into Redshift needs an IAM role: set OLIST_REDSHIFT_IAM_ROLE")
    parts = entry.get("parts") or []
    copy_sql = None
    if parts:
        area = open_staging(settings.staging_url)
        copy_sql = redshift_copy_sql(source.name, write_copy_manifest(area, manifest, source.name), role)
    clear_sql = render("warehouse/load/clear_delta.sql", "redshift", table=source.name)
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                for statement in statements(clear_sql):
                    conn.exec_driver_sql(statement)
                loaded = 0
                if copy_sql is not None:
                    # Driver-level: the ARN's colons must not be read as SQLAlchemy parameters.
                    conn.exec_driver_sql(statements(copy_sql)[0])
                    loaded = int(conn.exec_driver_sql("SELECT pg_last_copy_count()").scalar_one())
                if loaded != int(entry["rows"]):
                    raise LoadError(f"{source.name}: loaded {loaded} rows but the manifest lists {entry['rows']}")
                transaction.commit()
            except sa.exc.DBAPIError as err:
                transaction.rollback()
                raise LoadError(
                    f"loading staging_layer.{source.name} on Redshift failed: {err.orig}"
                    + _redshift_load_errors(conn)
                ) from err
            except BaseException:
                transaction.rollback()
                raise
        return loaded
    finally:
        engine.dispose()


def _redshift_load_errors(conn: sa.Connection) -> str:
    """The first rows of stl_load_errors for this session's last COPY (file, line, column, value)."""
    try:
        rows = conn.exec_driver_sql(
            "SELECT TRIM(filename), line_number, TRIM(colname), TRIM(raw_field_value), TRIM(err_reason) "
            "FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY starttime LIMIT 5"
        ).all()
        conn.rollback()
    except sa.exc.DBAPIError:
        return ""
    return "".join(
        f"\n  part {filename}, line {line}, column {column}: {value!r}: {reason}"
        for filename, line, column, value, reason in rows
    )
