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
from olist_etl.manifest import Part, RunManifest, TableExtract, copy_manifest_key
from olist_etl.settings import Settings
from olist_etl.sqlfiles import render, sql_files, statements
from olist_etl.locking import is_creation_collision, retry_serialization
from olist_etl.warehouse.migrate import add_missing_columns
from olist_etl.warehouse.rendering import is_redshift_sql, sql_dialect
from olist_etl.warehouse.views import sync_views
from olist_etl.staging import StagingArea, open_staging, write_json
from olist_etl.tables import TABLES, UPDATED_AT, Column, SourceTable, get_table
from olist_etl.progress import Progress
from olist_etl.stage import NULL_MARKER
from datetime import datetime, timezone

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
# COPY's REGION is a literal too: an AWS region name such as us-east-1 or ap-southeast-2.
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
# The DDL files a collision-free bootstrap creates before the guarded DDL can lock etl_control.loads.
BOOTSTRAP_DDL_FILES = ("warehouse/ddl/schemas.sql", "warehouse/ddl/etl_control.sql")
LOCK_FILE = "warehouse/control/lock_sync.sql"
RECORD_LOAD_FILE = "warehouse/control/record_load.sql"
LANDED_RUN_FILE = "warehouse/control/landed_run.sql"
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
    the analytics views whose definition changed (olist_etl/warehouse/views.py).

    Guarded like a load: the schemas and the etl_control tables are created first (two first runs
    that collide there are retried: IF NOT EXISTS then finds the objects), then one transaction
    that starts with LOCK etl_control.loads runs every DDL file, the added columns and the views.
    """
    # Table DDL (DISTSTYLE, SORTKEY) is the warehouse's own; the lock and the views follow the
    # rendering (the Redshift SQL on PostgreSQL shares their syntax).
    dialect = _warehouse_dialect(settings)
    rendering = sql_dialect(settings)
    engine = warehouse_engine(settings)

    def run(files: tuple[str, ...], guarded: bool) -> None:
        with engine.begin() as conn:
            if guarded:
                conn.exec_driver_sql(statements(render(LOCK_FILE, rendering))[0])
            for path, sql in ddl_sql(dialect):
                if path not in files:
                    continue
                for statement in statements(sql):
                    # Driver-level execution: DDL has no parameters, and SQLAlchemy's text()
                    # would read any ':word' in it as one.
                    conn.exec_driver_sql(statement)
            if not guarded:
                return
            # A warehouse created by an older release gets the columns added since (the views
            # below read them).
            added = add_missing_columns(conn, dialect)
            if added:
                log.info("warehouse columns added: %s", ", ".join(added))
            changed = [c for c in sync_views(conn, rendering, view_sql(rendering)) if c.action != "unchanged"]
            if changed:
                log.info("analytics views: %s", ", ".join(f"{c.view} {c.action}" for c in changed))

    try:
        retry_serialization(
            lambda: run(BOOTSTRAP_DDL_FILES, guarded=False), "create_warehouse (control tables)", also=is_creation_collision
        )
        retry_serialization(lambda: run(DDL_FILES, guarded=True), "create_warehouse")
        log.info("warehouse schema ready (%s)", dialect)
    finally:
        engine.dispose()


def _table_entry(manifest: RunManifest, source: SourceTable) -> TableExtract:
    """The manifest entry of a table, checked against the catalog before anything runs."""
    entry = manifest.tables.get(source.name)
    if entry is None:
        raise LoadError(f"run {manifest.run_id!r} has no manifest entry for {source.name}")
    expected = list(source.staged_columns)
    if list(entry.columns) != expected:
        raise LoadError(
            f"{source.name}: the manifest columns {entry.columns} differ from the catalog's {expected}"
        )
    if sum(p.rows for p in entry.parts) != entry.rows:
        raise LoadError(f"{source.name}: the manifest's parts add up to a different row count than its rows field")
    return entry


# The run's rows land as text first (gate 1 validates them there with GX), then are cast into the
# typed delta table; see sql/warehouse/load/create_landing.sql.
LANDING_PREFIX = "landing_"
CAST_KINDS = ("int", "money", "float", "timestamp", "date")


def landing_table(table: str) -> str:
    return LANDING_PREFIX + get_table(table).name


def staged_column_specs(source: SourceTable) -> tuple[Column, ...]:
    """The staged columns with their kinds: the catalog's plus the source's change timestamp."""
    return source.columns + (Column(UPDATED_AT, "timestamp"),)


def load_landing(settings: Settings, manifest: RunManifest, table: str) -> int:
    """Recreate staging_layer.landing_<table> (all text) and COPY the run's parts into it."""
    source = get_table(table)
    entry = _table_entry(manifest, source)
    dialect = _warehouse_dialect(settings)
    landing = landing_table(table)
    if dialect == "redshift" and entry.parts and not settings.redshift_iam_role:
        raise LoadError("loading into Redshift needs an IAM role: set OLIST_REDSHIFT_IAM_ROLE")
    create_sql = render("warehouse/load/create_landing.sql", dialect, landing=landing, columns=staged_column_specs(source))
    engine = warehouse_engine(settings)
    try:
        if dialect == "redshift":
            with engine.begin() as conn:
                # The sync lock, and which run this landing table holds (checked by the fill).
                for statement in _control_statements("redshift"):
                    conn.execute(sa.text(statement), _record_params({"table_name": landing, "run_id": manifest.run_id}))
                for statement in statements(create_sql):
                    conn.exec_driver_sql(statement)
                loaded = 0
                if entry.parts:
                    area = open_staging(settings.staging_url)
                    copy_sql = redshift_copy_sql(source.name, write_copy_manifest(area, manifest, source.name), settings.redshift_iam_role,
                                                 settings.redshift_region, target=landing)
                    conn.exec_driver_sql(statements(copy_sql)[0])
                    loaded = int(conn.exec_driver_sql("SELECT pg_last_copy_count()").scalar_one())
        else:
            loaded = _copy_landing_postgres(settings, engine, source, entry, create_sql, landing, manifest.run_id)
    finally:
        engine.dispose()
    if loaded != entry.rows:
        raise LoadError(f"{source.name}: landed {loaded} rows but the manifest lists {entry.rows}")
    log.info("landed %s rows in staging_layer.%s", loaded, landing)
    return loaded


def _copy_landing_postgres(
    settings: Settings, engine, source: SourceTable, entry: TableExtract, create_sql: str, landing: str, run_id: str
) -> int:
    area = open_staging(settings.staging_url)
    copy_sql = render("warehouse/load/copy_postgres.sql", "postgresql", table=landing, columns=source.staged_columns, null_marker=NULL_MARKER)
    progress = Progress("load", source.name, f"Rows of {source.name} copied into staging_layer", total=entry.rows)
    raw = engine.raw_connection()
    try:
        # The psycopg 3 connection under SQLAlchemy's pool: COPY FROM STDIN needs cursor.copy().
        conn: psycopg.Connection = raw.driver_connection
        try:
            with conn.cursor() as cur:
                _execute_bound(cur, _control_statements(sql_dialect(settings)), _record_params({"table_name": landing, "run_id": run_id}))
                for statement in statements(create_sql):
                    cur.execute(statement)
                loaded = 0
                for part in entry.parts:
                    loaded += _copy_part(cur, area, statements(copy_sql)[0], source.name, part)
                    progress.update(loaded)
            conn.commit()
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise
        progress.finish()
        return loaded
    finally:
        raw.close()


def _fill_sql(dialect: str, source: SourceTable) -> str:
    return render("warehouse/load/fill_delta.sql", dialect, table=source.name, landing=landing_table(source.name),
                  columns=staged_column_specs(source), casts=CAST_KINDS)


def load_table(settings: Settings, manifest: RunManifest, table: str, *, landed: bool = False) -> int:
    """Replace staging_layer.<table> by the run's rows; returns the number of rows loaded.

    The rows come from the landing table; `landed` says load_landing already filled it (the
    flow does, so gate 1 validates them first), else it is filled here.
    """
    source = get_table(table)
    entry = _table_entry(manifest, source)
    if not landed:
        load_landing(settings, manifest, table)
    dialect = _warehouse_dialect(settings)
    record = {"table_name": source.name, "run_id": manifest.run_id}
    if dialect == "redshift":
        loaded = retry_serialization(lambda: _load_redshift(settings, manifest, source, entry, record), f"load {source.name}")
    else:
        loaded = retry_serialization(lambda: _load_postgres(settings, source, entry, record), f"load {source.name}")
    log.info("loaded %s rows into staging_layer.%s", loaded, source.name)
    return loaded


def _control_statements(rendering: str) -> list[str]:
    """What a load runs before it empties its delta table: on the Redshift SQL the sync lock
    (control/lock_sync.sql), then the (table, run id) record (control/record_load.sql)."""
    lock = statements(render(LOCK_FILE, rendering)) if is_redshift_sql(rendering) else []
    return lock + statements(render(RECORD_LOAD_FILE, rendering))


def _record_params(record: dict) -> dict:
    return record | {"loaded_at": datetime.now(timezone.utc).replace(tzinfo=None)}


def _execute_bound(cur: psycopg.Cursor, sql_statements: list[str], params: dict) -> None:
    """Run statements with :name parameters on a psycopg cursor (its placeholders are %(name)s)."""
    for statement in sql_statements:
        converted = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement)
        cur.execute(converted, params if converted != statement else None)


def _check_landed(holder: str | None, source: SourceTable, run_id: str) -> None:
    """Refuse to fill a delta table from a landing table another run filled (run ids, not counts)."""
    if holder != run_id:
        held = f"run {holder!r}'s rows" if holder else "no run's rows"
        raise LoadError(
            f"staging_layer.{landing_table(source.name)} holds {held}, not run {run_id!r}'s: "
            "another sync landed its rows in between; load this run again"
        )


def _load_postgres(settings: Settings, source: SourceTable, entry: TableExtract, record: dict) -> int:
    control = _control_statements(sql_dialect(settings))
    landed = statements(render(LANDED_RUN_FILE, "postgresql"))
    clear_sql = render("warehouse/load/clear_delta.sql", "postgresql", table=source.name)
    analyze_sql = render("warehouse/load/analyze_delta.sql", "postgresql", table=source.name)
    fill_sql = _fill_sql("postgresql", source)
    engine = warehouse_engine(settings)
    raw = engine.raw_connection()
    try:
        # The psycopg 3 connection under SQLAlchemy's pool: COPY FROM STDIN needs cursor.copy().
        conn: psycopg.Connection = raw.driver_connection
        try:
            with conn.cursor() as cur:
                _execute_bound(cur, control, _record_params(record))
                _execute_bound(cur, landed, {"table_name": landing_table(source.name)})
                _check_landed((cur.fetchone() or (None,))[0], source, record["run_id"])
                for statement in statements(clear_sql):
                    cur.execute(statement)
                try:
                    cur.execute(statements(fill_sql)[0])
                except psycopg.OperationalError:
                    raise  # the connection dropped: I/O, so the task retries
                except psycopg.Error as err:
                    raise LoadError(_fill_error_message(conn, source, err, open_staging(settings.staging_url), entry)) from err
                loaded = cur.rowcount
                for statement in statements(analyze_sql):
                    cur.execute(statement)
            if loaded != entry.rows:
                raise LoadError(f"{source.name}: loaded {loaded} rows but the manifest lists {entry.rows}")
            conn.commit()
        except BaseException:
            # On a dropped connection the rollback fails too; the original error must survive it,
            # or a permanent LoadError would turn into a retried OperationalError.
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise
        return loaded
    finally:
        raw.close()
        engine.dispose()


def _fill_error_message(conn: psycopg.Connection, source: SourceTable, err: psycopg.Error, area: StagingArea, entry: TableExtract) -> str:
    """The cast's error plus the column that holds the value it quotes and where the value was
    staged (part and line): gate 1 checks these values first; this names them when the load runs
    without it, or a warning let one through."""
    message = err.diag.message_primary or str(err).strip()
    text = f"loading staging_layer.{source.name} from staging_layer.{landing_table(source.name)} failed: {message}"
    quoted = re.search(r'"(.*)"', message)
    if quoted is None:
        return text
    conn.rollback()  # the failed INSERT aborted the transaction; the lookup below is read-only
    with conn.cursor() as cur:
        for column in staged_column_specs(source):
            if column.kind not in CAST_KINDS:
                continue
            found = render("warehouse/load/landing_value.sql", "postgresql", landing=landing_table(source.name), column=column.name)
            # psycopg's named placeholder for the file's :value parameter.
            cur.execute(statements(found)[0].replace(":value", "%(value)s"), {"value": quoted.group(1)})
            if cur.fetchone():
                where = _staged_location(area, entry, column.name, quoted.group(1))
                return f"{text} (column {column.name}, value {quoted.group(1)!r}{where})"
    return text


def _staged_location(area: StagingArea, entry: TableExtract, column: str, value: str) -> str:
    """", part <key> line <n>" of the first staged record whose `column` holds `value` (streamed:
    only on the failure path), or "" when the parts cannot say."""
    from olist_etl.stage import StagedCsvReader

    try:
        index = entry.columns.index(column)
        for part in entry.parts:
            with area.reader(part.key) as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as text:
                reader = StagedCsvReader(text)
                next(reader, None)
                for row in reader:
                    if len(row) > index and row[index] == value:
                        return f", part {part.key} line {reader.line_num}"
    except (OSError, ValueError, EOFError, zlib.error):
        pass  # the message without a location is still the cast's error
    return ""


def _copy_part(cur: psycopg.Cursor, area: StagingArea, copy_sql: str, table: str, part: Part) -> int:
    key = part.key
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
    if loaded != part.rows:
        raise LoadError(f"{table}: part {key} held {loaded} rows but the manifest lists {part.rows}")
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


def write_copy_manifest(area: StagingArea, manifest: RunManifest, table: str) -> str:
    """Write the Redshift COPY manifest listing a table's parts; returns its URI."""
    source = get_table(table)
    key = copy_manifest_key(manifest.run_id, source.name)
    document = {
        "entries": [
            {"url": area.uri(part.key), "mandatory": True, "meta": {"content_length": part.bytes}}
            for part in manifest.tables[source.name].parts
        ]
    }
    write_json(area, key, document)
    return area.uri(key)


def redshift_copy_sql(table: str, manifest_uri: str, iam_role: str, region: str | None = None, *, target: str | None = None) -> str:
    """The COPY that loads a table's parts on Redshift; refuses any URI, role or region not strictly valid."""
    source = get_table(table)
    if not isinstance(manifest_uri, str) or not _S3_URI.fullmatch(manifest_uri):
        raise ValueError(f"refusing COPY manifest URI {manifest_uri!r}: expected s3://bucket/key of safe characters")
    if not isinstance(iam_role, str) or not _IAM_ROLE.fullmatch(iam_role):
        raise ValueError(f"refusing IAM role {iam_role!r}: expected arn:aws:iam::<12 digits>:role/<name>")
    if region is not None and (not isinstance(region, str) or not _REGION.fullmatch(region)):
        raise ValueError(f"refusing OLIST_REDSHIFT_REGION {region!r}: expected an AWS region such as us-east-1")
    return render(
        "warehouse/load/copy_redshift.sql",
        "redshift",
        table=target or source.name,
        columns=source.staged_columns,
        manifest_uri=manifest_uri,
        iam_role=iam_role,
        region=region,
        null_marker=NULL_MARKER,
    )


def _load_redshift(settings: Settings, manifest: RunManifest, source: SourceTable, entry: TableExtract, record: dict) -> int:
    fill_sql = _fill_sql("redshift", source)
    clear_sql = render("warehouse/load/clear_delta.sql", "redshift", table=source.name)
    # The INSERT does not refresh the statistics the way a COPY does.
    analyze_sql = render("warehouse/load/analyze_delta.sql", "redshift", table=source.name)
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                params = _record_params(record)
                for statement in _control_statements("redshift"):
                    conn.execute(sa.text(statement), params)
                landed = statements(render(LANDED_RUN_FILE, "redshift"))[0]
                _check_landed(conn.execute(sa.text(landed), {"table_name": landing_table(source.name)}).scalar(), source, record["run_id"])
                for statement in statements(clear_sql):
                    conn.exec_driver_sql(statement)
                loaded = conn.exec_driver_sql(statements(fill_sql)[0]).rowcount
                for statement in statements(analyze_sql):
                    conn.exec_driver_sql(statement)
                if loaded != entry.rows:
                    raise LoadError(f"{source.name}: loaded {loaded} rows but the manifest lists {entry.rows}")
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
