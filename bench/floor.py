"""The floor: what the two bulk tools alone move, `mariadb --quick | psql \\copy` per table."""

from __future__ import annotations

import concurrent.futures
import re
import shlex
import time

from common import BenchError, RssSampler, check_ok, run_measured
from olist_etl.tables import TABLE_NAMES
from services import Context, Services, pg_row_counts

# MariaDB column type -> PostgreSQL type of the floor's plain tables.
_TYPE_MAP = (
    (r"^char\((\d+)\)$", lambda m: f"char({m[1]})"),
    (r"^varchar\((\d+)\)$", lambda m: f"varchar({m[1]})"),
    (r"^(tiny|medium|long)?text$", lambda m: "text"),
    (r"^(tinyint|smallint)(\(\d+\))?( unsigned)?$", lambda m: "smallint"),
    (r"^(mediumint|int)(\(\d+\))?$", lambda m: "integer"),
    (r"^(int(\(\d+\))? unsigned|bigint(\(\d+\))?( unsigned)?)$", lambda m: "bigint"),
    (r"^decimal\((\d+),(\d+)\)( unsigned)?$", lambda m: f"numeric({m[1]},{m[2]})"),
    (r"^double$", lambda m: "double precision"),
    (r"^float$", lambda m: "real"),
    (r"^datetime\((\d)\)$", lambda m: f"timestamp({m[1]})"),
    (r"^datetime$", lambda m: "timestamp"),
    # updated_at is TIMESTAMP(6) (an instant; the dump reads it in the session's UTC).
    (r"^timestamp\((\d)\)$", lambda m: f"timestamp({m[1]})"),
    (r"^timestamp$", lambda m: "timestamp"),
    (r"^date$", lambda m: "date"),
)


def pg_type(table: str, column: str, column_type: str) -> str:
    """The PostgreSQL type of a floor column for a MariaDB column type."""
    for pattern, render in _TYPE_MAP:
        match = re.match(pattern, column_type.lower())
        if match:
            return render(match)
    raise BenchError(f"floor: no PostgreSQL type for {table}.{column} of MariaDB type {column_type!r}")


def floor_ddl(services: Services, database: str) -> dict[str, str]:
    """CREATE TABLE for each source table, same columns in the same order, no keys or indexes."""
    ddl = {}
    with services.my_connect(database) as conn, conn.cursor() as cur:
        for table in TABLE_NAMES:
            cur.execute(
                "SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (database, table),
            )
            columns = [f'"{column}" {pg_type(table, column, column_type)}' for column, column_type in cur.fetchall()]
            ddl[table] = f'CREATE TABLE "{table}" ({", ".join(columns)})'
    return ddl


def floor_pipe(services: Services, source_db: str, warehouse_db: str, table: str) -> list[str]:
    """The floor for one table: `mariadb -B -N | psql \\copy`, a tab-separated text pipe.

    Not a correct loader, only the bound on what the two bulk tools can move: mariadb prints SQL
    NULL as the bare word NULL (read back with NULL 'NULL', so a real string 'NULL' would become
    NULL) and escapes tab, newline and backslash as \\t \\n \\\\, which COPY's text format reads
    the same way, but not carriage return, which COPY refuses raw (review comments have CRLFs):
    sed writes it as \\r. There is no staging, no check and no merge.
    """
    mariadb = ["mariadb", "--quick", "-B", "-N", *services.mariadb_args(source_db), "-e", f"SELECT * FROM `{table}`"]
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *services.psql_args(warehouse_db), "-c", f"\\copy \"{table}\" FROM STDIN WITH (FORMAT text, NULL 'NULL')"]
    sed = ["sed", "s/\\r/\\\\r/g"]
    return ["bash", "-o", "pipefail", "-c", f"{shlex.join(mariadb)} | {shlex.join(sed)} | {shlex.join(psql)}"]


def run_floor(ctx: Context, r: int, parallel: bool) -> dict:
    label = f"floorpar_r{r}" if parallel else f"floor_r{r}"
    database = ctx.services.create_warehouse(label)
    try:
        with ctx.services.pg_connect(database) as conn:
            for statement in ctx.floor_ddl.values():
                conn.execute(statement)
        per_table, singles = {}, []
        logs = ctx.logs / label

        def one(table: str) -> None:
            result = run_measured(floor_pipe(ctx.services, ctx.source_db, database, table), env=ctx.env, cwd=ctx.work,
                                  logs=logs, name=table, sampler=sampler)
            check_ok(result, f"floor pipe for {table}")
            per_table[table] = result["wall_s"]
            singles.append(result["max_rss_single_bytes"] or 0)

        ctx.note_load(label)
        with RssSampler() as sampler:
            started = time.perf_counter()
            if parallel:
                with concurrent.futures.ThreadPoolExecutor(ctx.args.floor_jobs) as pool:
                    list(pool.map(one, TABLE_NAMES))
            else:
                for table in TABLE_NAMES:
                    one(table)
            total = time.perf_counter() - started
        counts = pg_row_counts(ctx.services, database, "public", TABLE_NAMES)
        ctx.check_counts(counts, label)
        return {"wall_s": total, "per_table_s": per_table, "peak_rss_tree_bytes": sampler.peak,
                "max_rss_single_bytes": max(singles), "jobs": ctx.args.floor_jobs if parallel else 1, "loadavg_before": ctx.loads[label]}
    finally:
        ctx.services.drop_warehouse(database)
