"""The MariaDB source and PostgreSQL warehouses a run creates, and the context every contender runs in."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pymysql
from sqlalchemy.engine import make_url

from common import BenchError, log
from olist_etl.tables import TABLE_NAMES


class Services:
    """The MariaDB and PostgreSQL servers, and every database this run created (dropped at close).

    Every database it creates is named bench_<label>_<tag>, so nothing else on the servers is touched."""

    def __init__(self, mariadb_url: str, postgres_url: str):
        self.my = make_url(mariadb_url)
        self.pg = make_url(postgres_url)
        self.tag = uuid.uuid4().hex[:8]
        self.my_databases: list[str] = []
        self.pg_databases: list[str] = []

    # URLs for each consumer
    def source_url(self, database: str) -> str:
        return self.my.set(drivername="mysql", database=database).render_as_string(hide_password=False)

    def source_sqlalchemy_url(self, database: str) -> str:
        return self.my.set(drivername="mysql+pymysql", database=database).render_as_string(hide_password=False)

    def warehouse_url(self, database: str, password_required: bool = False) -> str:
        url = self.pg.set(drivername="postgresql", database=database)
        if password_required and not url.password:
            # dlt's PostgreSQL credentials insist on a password; a server with trust auth ignores it.
            url = url.set(password="unused")
        return url.render_as_string(hide_password=False)

    def my_connect(self, database: str | None = None):
        return pymysql.connect(host=self.my.host or "127.0.0.1", port=self.my.port or 3306, user=self.my.username or "root",
                               password=self.my.password or "", database=database, autocommit=True, charset="utf8mb4")

    def pg_connect(self, database: str = "postgres"):
        return psycopg.connect(self.pg.set(drivername="postgresql", database=database).render_as_string(hide_password=False), autocommit=True)

    def client_env(self) -> dict[str, str]:
        """Passwords for the mariadb and psql clients, through the environment rather than argv."""
        env = {}
        if self.my.password:
            env["MYSQL_PWD"] = self.my.password
        if self.pg.password:
            env["PGPASSWORD"] = self.pg.password
        return env

    def mariadb_args(self, database: str) -> list[str]:
        return ["-h", self.my.host or "127.0.0.1", "-P", str(self.my.port or 3306), "-u", self.my.username or "root", database]

    def psql_args(self, database: str) -> list[str]:
        return ["-h", self.pg.host or "127.0.0.1", "-p", str(self.pg.port or 5432), "-U", self.pg.username or "postgres", "-d", database]

    def create_source(self) -> str:
        name = f"bench_src_{self.tag}"
        with self.my_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        self.my_databases.append(name)
        return name

    def create_warehouse(self, label: str) -> str:
        name = f"bench_{label}_{self.tag}"
        with self.pg_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.pg_databases.append(name)
        return name

    def drop_warehouse(self, name: str) -> None:
        with self.pg_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.pg_databases.remove(name)

    def close(self) -> None:
        for name in list(self.pg_databases):
            try:
                self.drop_warehouse(name)
            except Exception as err:  # keep dropping the others
                log(f"could not drop PostgreSQL database {name}: {err}")
        for name in list(self.my_databases):
            try:
                with self.my_connect() as conn, conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                self.my_databases.remove(name)
            except Exception as err:
                log(f"could not drop MariaDB database {name}: {err}")


def source_row_counts(services: Services, database: str) -> dict[str, int]:
    with services.my_connect(database) as conn, conn.cursor() as cur:
        counts = {}
        for table in TABLE_NAMES:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            counts[table] = cur.fetchone()[0]
        return counts


def pg_row_counts(services: Services, database: str, schema: str, tables) -> dict[str, int]:
    with services.pg_connect(database) as conn:
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{schema}"."{t}"').fetchone()[0] for t in tables}


class Context:
    """One benchmark run: its arguments, servers, work directory, source and the environment
    every contender starts from."""

    def __init__(self, args, services: Services, work: Path):
        self.args = args
        self.services = services
        self.work = work
        self.logs = work / "logs"
        self.source_db = ""
        self.source_rows: dict[str, int] = {}
        self.floor_ddl: dict[str, str] = {}
        self.server = None  # prefect_api.PrefectServer, when olist-etl runs
        self.dlt_python: Path | None = None
        self.sling_binary: Path | None = None
        self.loads: dict[str, tuple] = {}
        # No OLIST_* or PREFECT_* from the caller's shell: every contender sees only what is set here.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OLIST_", "PREFECT_"))} | services.client_env()
        if getattr(args, "project_dir", None):
            # Ahead of the venv's editable install of this checkout: olist_etl, flows, tasks, sql/ from there.
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.project_dir.resolve()), self.env.get("PYTHONPATH")]))

    def note_load(self, label: str) -> None:
        self.loads[label] = os.getloadavg()

    def check_counts(self, counts: dict[str, int], label: str) -> None:
        wrong = {t: (counts.get(t), n) for t, n in self.source_rows.items() if counts.get(t) != n}
        if wrong:
            raise BenchError(f"{label}: row counts differ from the source (loaded, source): {wrong}")
