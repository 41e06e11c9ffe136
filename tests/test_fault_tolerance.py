"""Crash safety and transient faults, with the real services: a MariaDB source, a PostgreSQL
warehouse and S3 staging on a moto server, the sync run as a user runs it (a subprocess).

Kill points are reached deterministically, never by sleeping: a second PostgreSQL session holds
ACCESS EXCLUSIVE locks that the sync must wait for (pg_blocking_pids shows when it does), and a
small HTTP proxy in front of moto holds, or fails, chosen S3 requests. After a SIGKILL of the
sync's whole process group the warehouse must still hold the previous promoted state, the killed
run's staged batch must still be in the staging area, and a re-run must leave the warehouse equal
to a clean run's (checksums of every table in user_access_layer, and the watermarks).

Every faulted warehouse starts as a copy (CREATE DATABASE ... TEMPLATE) of one promoted full sync,
and the "clean run" is that copy plus one uninterrupted incremental sync of the same source changes,
so the comparison holds for SCD2 history too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

import pytest
import sqlalchemy as sa

from olist_etl.db import source_engine
from olist_etl.source import create_source_schema, seed_synthetic, simulate_changes
from olist_etl.staging import open_staging, read_json
from olist_etl.tables import TABLE_NAMES, quote_ident
from olist_etl.load import landing_table
from olist_etl.merge import MERGE_STEPS
from tests.support.services import make_settings, mariadb_database, postgres_database, s3_bucket, unique_name
from tests.support.tables import table_checksums

pytestmark = pytest.mark.integration
# both_runners (run.py test runs the test again with every sync on the Dask task runner): every
# kill point, the retries and a refusal; the sync runs as a subprocess, so its Dask workers are
# killed with it.
DASK_TOO = pytest.mark.both_runners

SCALE, SEED, CHANGES_SEED, CHANGES_FRACTION = 0.005, 21, 5, 0.05
# Upper bounds for waits that end as soon as their condition holds; only a hung sync reaches them.
WAIT_SECONDS = 300
SYNC_SECONDS = 600
TARGET = "user_access_layer"


# --- an S3 proxy in front of moto that injects faults ------------------------------------------


@dataclass
class Fault:
    """Answer `status` with S3 error `code` to the first `times` matching requests (None: all)."""

    method: str
    path: re.Pattern
    status: int
    code: str
    times: int | None
    served: int = 0


@dataclass
class Hold:
    """Stop the first matching request until released. A GET gets its status line and headers
    first, so the client is already reading the body; any other request is never forwarded."""

    method: str
    path: re.Pattern
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    taken: bool = False


class S3FaultProxy:
    """Forwards every request to moto unchanged unless a Fault or Hold matches it."""

    def __init__(self, upstream: str):
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.lock = threading.Lock()
        self.log: list[tuple[str, str, int]] = []  # (method, object path, status answered)
        self.faults: list[Fault] = []
        self.holds: list[Hold] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, method: str, path: str, status: int, code: str, times: int | None) -> Fault:
        fault = Fault(method, re.compile(path), status, code, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def hold(self, method: str, path: str) -> Hold:
        hold = Hold(method, re.compile(path))
        with self.lock:
            self.holds.append(hold)
        return hold

    def requests(self, method: str, path: str) -> list[int]:
        """Statuses answered to the matching requests so far, in order."""
        pattern = re.compile(path)
        with self.lock:
            return [status for m, p, status in self.log if m == method and pattern.search(p)]

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and fault.path.search(path) and (fault.times is None or fault.served < fault.times):
                    fault.served += 1
                    return fault
        return None

    def _hold_for(self, method: str, path: str) -> Hold | None:
        with self.lock:
            for hold in self.holds:
                if not hold.taken and hold.method == method and hold.path.search(path):
                    hold.taken = True
                    return hold
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.log.append((method, path, status))

    def close(self) -> None:
        for hold in self.holds:
            hold.released.set()
        self.server.shutdown()
        self.server.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects; every answer has a length

    def log_message(self, *args) -> None:  # the test's output stays readable
        pass

    def do_GET(self):
        self._proxy()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _proxy(self) -> None:
        proxy: S3FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self._read_body()
        path = unquote(self.path.split("?", 1)[0])
        fault = proxy._fault_for(self.command, path)
        if fault is not None:
            proxy._record(self.command, path, fault.status)
            error = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code>'
                f"<Message>injected by the test proxy</Message><Resource>{path}</Resource>"
                "<RequestId>fault</RequestId></Error>"
            ).encode()
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(error)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(error)
            return
        hold = proxy._hold_for(self.command, path)
        if hold is not None and self.command != "GET":
            # The request never reaches moto: the client is killed while it waits.
            hold.reached.set()
            hold.released.wait()
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection", "expect", "content-length")}
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
        try:
            upstream.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            reply = [(k, v) for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
            length = response.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        finally:
            upstream.close()
        proxy._record(self.command, path, response.status)
        try:
            self.send_response(response.status)
            for key, value in reply:
                if key.lower() not in ("server", "date"):
                    self.send_header(key, value)
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if hold is not None:
                self.wfile.flush()
                hold.reached.set()
                hold.released.wait()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed meanwhile
            self.close_connection = True


# --- the source, the promoted warehouse template and the clean run -----------------------------


@dataclass
class World:
    source_url: str
    template_url: str  # a warehouse after one promoted full sync; only ever copied
    promoted: dict  # its user_access_layer checksums
    promoted_marks: list  # its etl_control.watermarks rows
    clean: dict  # checksums after the template plus one uninterrupted incremental sync
    clean_marks: dict  # table -> high watermark after that sync
    clean_loaded: dict  # table -> rows that sync loaded


def sync_env(home: Path, source_url: str, warehouse_url: str, staging_url: str, endpoint: str) -> dict:
    return {
        **os.environ,
        "OLIST_HOME": str(home),
        "OLIST_SOURCE_URL": source_url,
        "OLIST_WAREHOUSE_URL": warehouse_url,
        "OLIST_STAGING_URL": staging_url,
        "OLIST_PART_ROWS": "400",  # several parts for the bigger tables
        "AWS_ENDPOINT_URL": endpoint,
    }


def start_sync(env: dict, mode: str, logs: Path) -> subprocess.Popen:
    """The sync as a user runs it, in its own process group (so a kill takes every child too).

    Output goes to files, not pipes: a sync must never block on a full pipe while a test waits.
    """
    logs.mkdir(parents=True, exist_ok=True)
    name = unique_name(mode)
    proc = subprocess.Popen(
        [sys.executable, "-m", "olist_etl.app.cli", "sync", "--mode", mode, "--json"],
        env=env, stdout=open(logs / f"{name}.out", "w"), stderr=open(logs / f"{name}.err", "w"), start_new_session=True,
    )
    proc.out_path, proc.err_path = logs / f"{name}.out", logs / f"{name}.err"  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        proc.wait(timeout=SYNC_SECONDS)
    except subprocess.TimeoutExpired:
        kill(proc)
        pytest.fail(f"the sync did not finish in {SYNC_SECONDS}s: {proc.err_path.read_text()[-3000:]}")  # type: ignore[attr-defined]
    return proc.returncode, proc.out_path.read_text(), proc.err_path.read_text()  # type: ignore[attr-defined]


def run_sync(env: dict, mode: str, logs: Path) -> tuple[int, str, str]:
    return finish(start_sync(env, mode, logs))


def promoted_summary(code: int, out: str, err: str) -> dict:
    assert code == 0, f"exit {code}; summary: {out[-4000:]}; stderr: {err[-3000:]}"
    summary = json.loads(out)
    assert summary["status"] == "promoted", summary
    return summary


def kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def watermark_rows(url: str) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text("select * from etl_control.watermarks order by table_name"))]
    engine.dispose()
    return rows


def high_watermarks(url: str) -> dict:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        marks = dict(conn.execute(sa.text("select table_name, high_watermark from etl_control.watermarks")).all())
    engine.dispose()
    return marks


def promoted_runs(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        runs = set(conn.execute(sa.text("select run_id from etl_control.runs where status = 'promoted'")).scalars())
    engine.dispose()
    return runs


def checksums(url: str) -> dict:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return table_checksums(engine, TARGET)
    finally:
        engine.dispose()


@contextlib.contextmanager
def copy_of(template_url: str) -> Iterator[str]:
    """A new database copied from the template (which must have no open connections)."""
    admin_url = sa.engine.make_url(template_url).set(database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = unique_name("olist_f")
    template = sa.engine.make_url(template_url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f"create database {quote_ident(name)} template {quote_ident(template)}"))
    try:
        yield sa.engine.make_url(template_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"drop database if exists {quote_ident(name)} with (force)"))
        admin.dispose()


@pytest.fixture(scope="module")
def world(prefect_api, moto_endpoint, tmp_path_factory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("world")
    with mariadb_database() as source_url, postgres_database() as template_url, s3_bucket(moto_endpoint) as staging_url:
        source = source_engine(make_settings(home, source_url=source_url, warehouse_url=None))
        create_source_schema(source, drop_existing=True)
        seed_synthetic(source, SCALE, SEED)
        promoted_summary(*run_sync(sync_env(home / "a", source_url, template_url, staging_url, moto_endpoint), "full", home / "logs"))
        simulate_changes(source, seed=CHANGES_SEED, fraction=CHANGES_FRACTION)
        source.dispose()
        promoted, promoted_marks = checksums(template_url), watermark_rows(template_url)
        with copy_of(template_url) as clean_url:
            summary = promoted_summary(*run_sync(sync_env(home / "clean", source_url, clean_url, staging_url, moto_endpoint), "incremental", home / "logs"))
            clean, clean_marks = checksums(clean_url), high_watermarks(clean_url)
        assert clean != promoted, "the source changes should change the star schema"
        assert summary["tables"]["orders"]["loaded"] > 0, "the incremental sync should carry changed orders"
        yield World(
            source_url, template_url, promoted, promoted_marks, clean, clean_marks,
            {t: c["loaded"] for t, c in summary["tables"].items()},
        )


@dataclass
class Faulted:
    """One faulted warehouse (a copy of the template), its own staging bucket behind the proxy."""

    url: str
    env: dict
    proxy: S3FaultProxy
    staging_url: str
    logs: Path

    def staged_runs(self) -> set[str]:
        return {key.split("/")[1] for key in open_staging(self.staging_url).list("runs/")}


@pytest.fixture
def faulted(world, moto_endpoint, tmp_path) -> Iterator[Faulted]:
    proxy = S3FaultProxy(moto_endpoint)
    try:
        with copy_of(world.template_url) as url, s3_bucket(moto_endpoint) as staging_url:
            env = sync_env(tmp_path / "home", world.source_url, url, staging_url, proxy.url)
            yield Faulted(url, env, proxy, staging_url, tmp_path / "logs")
    finally:
        proxy.close()


# --- PostgreSQL locks and backends --------------------------------------------------------------


class TableLock:
    """Locks on warehouse tables (ACCESS EXCLUSIVE by default), held by a session of their own until
    release(). EXCLUSIVE lets reads through and stops writes: the promote's read-only probe of the
    star tables passes and its first write waits."""

    def __init__(self, url: str, tables: list[str], mode: str = "access exclusive"):
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._conn = self._engine.connect()
        self._tx = self._conn.begin()
        names = ", ".join(f"{quote_ident(s)}.{quote_ident(t)}" for s, t in (name.split(".") for name in tables))
        assert mode in ("access exclusive", "exclusive")
        self._conn.execute(sa.text(f"lock table {names} in {mode} mode"))
        self.pid = self._conn.execute(sa.text("select pg_backend_pid()")).scalar_one()

    def release(self) -> None:
        if self._tx.is_active:
            self._tx.rollback()
            self._conn.close()
            self._engine.dispose()


@contextlib.contextmanager
def monitor(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def wait_until(condition, proc: subprocess.Popen, what: str):
    """Poll until `condition()` returns something truthy; fail if the sync ends first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := condition()):
        if proc.poll() is not None:
            pytest.fail(f"the sync ended (exit {proc.returncode}) before {what}: {proc.err_path.read_text()[-3000:]}")  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            kill(proc)
            pytest.fail(f"gave up after {WAIT_SECONDS}s waiting for {what}")
        time.sleep(0.1)
    return found


def blocked_by(conn: sa.Connection, lock: TableLock) -> list[tuple[int, str]]:
    """(pid, query) of the backends waiting for the lock's session."""
    return [
        tuple(r)
        for r in conn.execute(
            sa.text("select pid, query from pg_stat_activity where :holder = any(pg_blocking_pids(pid))"),
            {"holder": lock.pid},
        )
    ]


def wait_for_the_load(conn: sa.Connection, lock: TableLock, proc: subprocess.Popen, faulted: "Faulted") -> str:
    """Wait until the sync waits for the locked delta tables; returns its run id, checking that
    what waits is the load (after the extract wrote the manifest), not an earlier step."""
    wait_until(lambda: blocked_by(conn, lock), proc, "the load to wait for the delta tables")
    (run_id,) = faulted.staged_runs()
    assert open_staging(faulted.staging_url).exists(f"runs/{run_id}/manifest.json"), "the extract should be done"
    return run_id


def terminate_orphans(url: str, keep: list[int]) -> None:
    """End the killed sync's backends (one waiting for a lock never notices its client died)."""
    with monitor(url) as conn:
        others = (
            "select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend'"
            " and pid <> pg_backend_pid() and not (pid = any(:keep))"
        )
        conn.execute(sa.text(f"select pg_terminate_backend(pid) from ({others}) o"), {"keep": keep})
        deadline = time.monotonic() + WAIT_SECONDS
        while conn.execute(sa.text(others), {"keep": keep}).first():
            assert time.monotonic() < deadline, "the killed sync's backends did not end"
            time.sleep(0.1)


def merge_targets(url: str) -> list[str]:
    """The promote steps that merge into a table of the star schema, in execution order."""
    with monitor(url) as conn:
        tables = set(conn.execute(sa.text("select table_name from information_schema.tables where table_schema = :s and table_type = 'BASE TABLE'"), {"s": TARGET}).scalars())
    return [f"{TARGET}.{step}" for step, _ in MERGE_STEPS if step in tables]


def delta_tables() -> list[str]:
    return [f"staging_layer.{t}" for t in TABLE_NAMES]


def landing_tables() -> list[str]:
    return [f"staging_layer.{landing_table(t)}" for t in TABLE_NAMES]


def duplicate_keys(url: str) -> dict[str, int]:
    """Rows per table whose primary key value repeats. PostgreSQL enforces declared keys; this
    states the property for every table whatever the model (Redshift, for one, does not)."""
    with monitor(url) as conn:
        keys = conn.execute(
            sa.text(
                "select tc.table_name, tc.constraint_name, array_agg(k.column_name::text order by k.ordinal_position)"
                " from information_schema.table_constraints tc join information_schema.key_column_usage k"
                " on k.constraint_name = tc.constraint_name and k.table_schema = tc.table_schema"
                " where tc.table_schema = :s and tc.constraint_type = 'PRIMARY KEY'"
                " group by tc.table_name, tc.constraint_name"
            ),
            {"s": TARGET},
        ).all()
        found = {}
        for table, constraint, columns in keys:
            cols = ", ".join(quote_ident(c) for c in columns)
            extra = conn.execute(sa.text(f"select count(*) - count(distinct ({cols}, 0)) from {quote_ident(TARGET)}.{quote_ident(table)}")).scalar_one()
            if extra:
                found[f"{table}.{constraint}"] = extra
    return found


def assert_batch_kept(staging_url: str, run_id: str) -> None:
    """The run's manifest and every part it lists are still in the staging area."""
    area = open_staging(staging_url)
    manifest = read_json(area, f"runs/{run_id}/manifest.json")
    staged = set(area.list(f"runs/{run_id}/"))
    parts = [p["key"] for entry in manifest["tables"].values() for p in entry["parts"]]
    assert parts, "the killed run staged no parts"
    assert not [k for k in parts if k not in staged], f"parts of run {run_id} are missing"


def assert_previous_state(world: World, faulted: Faulted, killed: str) -> None:
    """Nothing of the killed run reached the star schema or the watermarks."""
    assert checksums(faulted.url) == world.promoted
    assert watermark_rows(faulted.url) == world.promoted_marks
    assert killed not in promoted_runs(faulted.url)


def assert_rerun_matches_clean(world: World, faulted: Faulted, killed: str) -> None:
    code, out, err = run_sync(faulted.env, "incremental", faulted.logs)
    promoted_summary(code, out, err)
    got = checksums(faulted.url)
    assert {t: c for t, (c, _) in got.items()} == {t: c for t, (c, _) in world.clean.items()}, "row counts differ from the clean run"
    assert got == world.clean, f"tables differ from the clean run: {sorted(t for t in got if got[t] != world.clean.get(t))}"
    assert high_watermarks(faulted.url) == world.clean_marks
    assert duplicate_keys(faulted.url) == {}
    assert_batch_kept(faulted.staging_url, killed)


# --- the kill points ------------------------------------------------------------------------------


def _killed_while_blocked(world: World, faulted: Faulted, proc: subprocess.Popen, locks: list[TableLock]) -> str:
    """SIGKILL the sync, end its backends, drop the locks; returns the killed run's id."""
    kill(proc)
    terminate_orphans(faulted.url, keep=[lock.pid for lock in locks])
    for lock in locks:
        lock.release()
    (killed,) = faulted.staged_runs()
    return killed


@DASK_TOO
def test_killed_after_extract_before_load(world, faulted):
    # Arrange: every delta table locked, so the load waits right after the extract and gate 1.
    lock = TableLock(faulted.url, delta_tables())
    proc = start_sync(faulted.env, "incremental", faulted.logs)
    with monitor(faulted.url) as conn:
        run_id = wait_for_the_load(conn, lock, proc, faulted)

    # Act: kill the sync there.
    killed = _killed_while_blocked(world, faulted, proc, [lock])

    # Assert: the previous promoted state, the staged batch kept; a re-run equals the clean run.
    assert killed == run_id
    assert_previous_state(world, faulted, killed)
    assert_batch_kept(faulted.staging_url, killed)
    assert_rerun_matches_clean(world, faulted, killed)


@DASK_TOO
def test_killed_after_the_staging_load_before_the_merge(world, faulted):
    # Arrange: the load waits on the delta tables; meanwhile the first table the promote merges
    # into is locked too, then the delta tables are freed: the loads commit, gate 2 passes and
    # the promote transaction waits on its first MERGE.
    loads = TableLock(faulted.url, delta_tables())
    proc = start_sync(faulted.env, "incremental", faulted.logs)
    with monitor(faulted.url) as conn:
        run_id = wait_for_the_load(conn, loads, proc, faulted)
        first = TableLock(faulted.url, merge_targets(faulted.url)[:1], mode="exclusive")
        loads.release()
        ((pid, query),) = wait_until(lambda: blocked_by(conn, first), proc, "the promote to wait for its first merge")
        assert "MERGE" in query.upper(), f"expected the promote's first MERGE to wait, not: {query[:300]}"
        manifest = read_json(open_staging(faulted.staging_url), f"runs/{run_id}/manifest.json")
        for table in TABLE_NAMES:  # the loads committed
            held = conn.execute(sa.text(f"select count(*) from staging_layer.{quote_ident(table)}")).scalar_one()
            assert held == manifest["tables"][table]["rows"], table

    # Act
    killed = _killed_while_blocked(world, faulted, proc, [first])

    # Assert
    assert_previous_state(world, faulted, killed)
    assert_rerun_matches_clean(world, faulted, killed)


@DASK_TOO
def test_killed_during_the_merge(world, faulted):
    # Arrange: as above, but the lock is on the last table merged: every earlier MERGE has run
    # inside the open promote transaction when it waits.
    loads = TableLock(faulted.url, delta_tables())
    proc = start_sync(faulted.env, "incremental", faulted.logs)
    with monitor(faulted.url) as conn:
        wait_for_the_load(conn, loads, proc, faulted)
        targets = merge_targets(faulted.url)
        last = TableLock(faulted.url, targets[-1:], mode="exclusive")
        loads.release()
        ((pid, query),) = wait_until(lambda: blocked_by(conn, last), proc, f"the promote to wait for {targets[-1]}")
        assert "MERGE" in query.upper(), f"expected a MERGE to wait, not: {query[:300]}"
        written = set(
            conn.execute(
                sa.text(
                    "select c.relname from pg_locks l join pg_class c on c.oid = l.relation"
                    " join pg_namespace n on n.oid = c.relnamespace"
                    " where l.pid = :pid and l.granted and l.mode = 'RowExclusiveLock' and n.nspname = :s"
                ),
                {"pid": pid, "s": TARGET},
            ).scalars()
        )
        merged_before = {t.split(".")[1] for t in targets[:-1]}
        assert merged_before <= written, f"earlier merges should have run in the transaction: {sorted(merged_before - written)} did not"

    # Act
    killed = _killed_while_blocked(world, faulted, proc, [last])

    # Assert: the merges that ran were rolled back with the kill.
    assert_previous_state(world, faulted, killed)
    assert_rerun_matches_clean(world, faulted, killed)


@DASK_TOO
def test_killed_while_publishing_the_data_docs(world, faulted):
    # Arrange: the proxy holds the first data docs upload, which comes after the promote commits.
    hold = faulted.proxy.hold("PUT", r"/data_docs/")
    proc = start_sync(faulted.env, "incremental", faulted.logs)
    wait_until(hold.reached.is_set, proc, "the data docs upload")
    (run_id,) = faulted.staged_runs()
    assert run_id in promoted_runs(faulted.url), "the promote should have committed before publishing"

    # Act
    kill(proc)
    terminate_orphans(faulted.url, keep=[])
    hold.released.set()

    # Assert: the run is promoted whole (the star schema already equals the clean run's), its
    # batch is kept, and a re-run changes nothing.
    assert checksums(faulted.url) == world.clean
    assert high_watermarks(faulted.url) == world.clean_marks
    assert_batch_kept(faulted.staging_url, run_id)
    assert_rerun_matches_clean(world, faulted, run_id)


# --- a dropped warehouse connection and S3 errors ------------------------------------------------


@DASK_TOO
def test_a_connection_dropped_mid_copy_is_retried(world, faulted):
    # Arrange: hold the landing load (the COPY of the parts, before gate 1 and the typed fill) at
    # the landing tables, then let it go with the proxy holding the body of the first orders part:
    # the COPY has started and waits for data.
    loads = TableLock(faulted.url, landing_tables())
    proc = start_sync(faulted.env, "incremental", faulted.logs)
    with monitor(faulted.url) as conn:
        run_id = wait_for_the_load(conn, loads, proc, faulted)
        part = rf"/runs/{run_id}/orders/part-00000\.csv\.gz$"
        before = len(faulted.proxy.requests("GET", part))
        hold = faulted.proxy.hold("GET", part)
        loads.release()
        wait_until(hold.reached.is_set, proc, "the orders load to read its first part")

        def copying():
            rows = conn.execute(sa.text("select pid, query from pg_stat_activity where state = 'active' and query ~ 'COPY staging_layer\\.\"?landing_orders\"? '")).all()
            return rows

        ((pid, _),) = wait_until(copying, proc, "the COPY into staging_layer.landing_orders")

        # Act: the warehouse drops the connection in the middle of the COPY.
        assert conn.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        hold.released.set()
        code, out, err = finish(proc)

    # Assert: the load task ran again and the sync promoted exactly the clean run's rows.
    summary = promoted_summary(code, out, err)
    assert {t: c["loaded"] for t, c in summary["tables"].items()} == world.clean_loaded
    assert len(faulted.proxy.requests("GET", part)) - before >= 2, "the orders load should have read its part again"
    assert re.search(r"land-orders.*Retry 1/", err), err[-4000:]
    assert checksums(faulted.url) == world.clean
    assert high_watermarks(faulted.url) == world.clean_marks


@DASK_TOO
def test_s3_server_errors_are_retried(world, faulted):
    # Arrange: the manifest upload answers 503 SlowDown three times, the first read of the first
    # orders part (gate 1's) 500 three times, the data docs upload 503 twice.
    faults = [
        faulted.proxy.fail("PUT", r"/runs/[^/]+/manifest\.json$", 503, "SlowDown", times=3),
        faulted.proxy.fail("GET", r"/runs/[^/]+/orders/part-00000\.csv\.gz$", 500, "InternalError", times=3),
        faulted.proxy.fail("PUT", r"/data_docs/", 503, "SlowDown", times=2),
    ]

    # Act
    code, out, err = run_sync(faulted.env, "incremental", faulted.logs)

    # Assert: the run promoted what the clean run did (checked first: a run that did not promote
    # shows its summary), and every fault was served and retried past.
    summary = promoted_summary(code, out, err)
    assert [f.served for f in faults] == [3, 3, 2]
    assert {t: c["loaded"] for t, c in summary["tables"].items()} == world.clean_loaded
    assert checksums(faulted.url) == world.clean
    assert high_watermarks(faulted.url) == world.clean_marks


def assert_nothing_promoted(world: World, faulted: Faulted) -> None:
    assert checksums(faulted.url) == world.promoted
    assert watermark_rows(faulted.url) == world.promoted_marks
    assert len(promoted_runs(faulted.url)) == 1  # the template's full sync only


# Not both_runners: the staging pre-check fails the run before any task is submitted.
def test_a_missing_bucket_fails_cleanly_naming_it(world, faulted):
    # Arrange: a staging URL whose bucket does not exist.
    bucket = unique_name("olist-missing").replace("_", "-")
    env = dict(faulted.env, OLIST_STAGING_URL=f"s3://{bucket}/olist")

    # Act
    code, out, err = run_sync(env, "incremental", faulted.logs)

    # Assert: exit 1 with the bucket named by the pre-check, before anything runs; the --json error
    # is one JSON object; nothing promoted.
    assert code == 1 and json.loads(out)["status"] == "error", err[-3000:]
    assert f"bucket {bucket} does not exist" in json.loads(out)["error"] + err, err[-3000:]
    assert_nothing_promoted(world, faulted)


@DASK_TOO
def test_access_denied_fails_cleanly_without_retrying(world, faulted):
    # Arrange: every read of a staged part is refused.
    faulted.proxy.fail("GET", r"/runs/[^/]+/[^/]+/part-\d+\.csv\.gz$", 403, "AccessDenied", times=None)

    # Act
    code, out, err = run_sync(faulted.env, "incremental", faulted.logs)

    # Assert: exit 1 naming the object and AccessDenied; asked once (a refusal is not retried);
    # nothing promoted, watermarks unmoved, the staged batch kept.
    assert code == 1 and json.loads(out)["status"] == "error", err[-3000:]
    match = re.search(rf"GetObject of ({re.escape(faulted.staging_url)}/runs/[^ ]+/part-\d+\.csv\.gz) failed: AccessDenied", err)
    assert match, err[-3000:]
    denied = urlparse(match.group(1)).path
    assert faulted.proxy.requests("GET", re.escape(denied) + "$") == [403]
    assert_nothing_promoted(world, faulted)
    (run_id,) = faulted.staged_runs()
    assert_batch_kept(faulted.staging_url, run_id)
