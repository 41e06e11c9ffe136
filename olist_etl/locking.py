"""One sync at a time per warehouse: a PostgreSQL session advisory lock on its own connection.

Two syncs that overlap would clobber each other's staging_layer delta tables (every load empties
and refills them) and could promote a run extracted from stale watermarks. The lock is taken
before the watermarks are read and released after the merge, on a dedicated AUTOCOMMIT
connection, so no transaction of the load or merge ever holds or releases it. If that connection
dies, PostgreSQL releases the lock; `assert_held()` is checked right before the merge so a run
never promotes without it.

The holder's run id travels in the lock connection's application_name, so a refused run can say
which run holds the lock (pg_stat_activity shows it) without any extra table.

Redshift has no advisory locks; see docs/prefect.md for the equivalent (a Prefect global
concurrency limit or a deployment concurrency limit).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import sqlalchemy as sa

from olist_etl.db import dialect_of, normalize_url
from olist_etl.settings import Settings

log = logging.getLogger(__name__)

# A fixed 64-bit key in pg_advisory_lock's single-bigint space: the bytes of "olistsyn".
LOCK_KEY = int.from_bytes(b"olistsyn", "big") & 0x7FFF_FFFF_FFFF_FFFF
APPLICATION_PREFIX = "olist-sync:"


class SyncAlreadyRunning(RuntimeError):
    """Another sync holds the warehouse lock; this run loaded and promoted nothing."""


class SyncLock:
    def __init__(self, conn: sa.Connection):
        self._conn = conn

    def assert_held(self) -> None:
        """Raise unless this connection still holds the lock (it is lost with the connection)."""
        try:
            held = self._conn.execute(
                sa.text(
                    "select count(*) from pg_locks where locktype = 'advisory' and granted"
                    " and pid = pg_backend_pid() and ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": LOCK_KEY},
            ).scalar_one()
        except sa.exc.DBAPIError as err:
            raise SyncAlreadyRunning(f"the warehouse sync lock was lost with its connection: {err.orig}") from err
        if not held:
            raise SyncAlreadyRunning("the warehouse sync lock is no longer held; refusing to promote")


def lock_holder(conn: sa.Connection) -> str | None:
    """The run id of the sync holding the lock, from its connection's application_name."""
    name = conn.execute(
        sa.text(
            "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid"
            " where l.locktype = 'advisory' and l.granted and ((l.classid::bigint << 32) | l.objid::bigint) = :key"
            # Advisory locks are per database: another warehouse on the same server has its own.
            " and l.database = (select oid from pg_database where datname = current_database())"
        ),
        {"key": LOCK_KEY},
    ).scalar()
    if name and name.startswith(APPLICATION_PREFIX):
        return name[len(APPLICATION_PREFIX):]
    return name


@contextlib.contextmanager
def sync_lock(settings: Settings, run_id: str, wait_seconds: float = 0) -> Iterator[SyncLock | None]:
    """Hold the warehouse sync lock for the block; refuse, or wait up to `wait_seconds`.

    wait_seconds = 0 refuses at once; a positive value waits in PostgreSQL (lock_timeout), so a
    waiting run is visible in pg_locks as not granted. Yields None on Redshift (no advisory locks).
    """
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    if dialect_of(settings.warehouse_url) != "postgresql":
        log.warning("no advisory locks on this warehouse: use a Prefect concurrency limit (docs/prefect.md)")
        yield None
        return
    engine = sa.create_engine(
        normalize_url(settings.warehouse_url.reveal()),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
        connect_args={"application_name": f"{APPLICATION_PREFIX}{run_id}"[:63]},
    )
    try:
        with engine.connect() as conn:
            if not _acquire(conn, wait_seconds):
                holder = lock_holder(conn) or "unknown"
                waited = f" after waiting {wait_seconds:g}s" if wait_seconds > 0 else ""
                raise SyncAlreadyRunning(
                    f"another sync is running (run {holder}); run {run_id} refused{waited} and changed nothing. "
                    "Set OLIST_LOCK_WAIT_SECONDS to wait for it instead."
                )
            log.info("run %s holds the warehouse sync lock", run_id)
            try:
                yield SyncLock(conn)
            finally:
                # Closing the connection would release it too; unlocking first says so in the log.
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.execute(sa.text("select pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                log.info("run %s released the warehouse sync lock", run_id)
    finally:
        engine.dispose()


def _acquire(conn: sa.Connection, wait_seconds: float) -> bool:
    if wait_seconds <= 0:
        return bool(conn.execute(sa.text("select pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar_one())
    conn.execute(sa.text(f"set lock_timeout = {int(wait_seconds * 1000)}"))
    try:
        conn.execute(sa.text("select pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        return True
    except sa.exc.OperationalError as err:
        if getattr(err.orig, "sqlstate", None) == "55P03":  # lock_not_available: the wait ran out
            return False
        raise
    finally:
        conn.execute(sa.text("reset lock_timeout"))
