"""One sync at a time per warehouse: a PostgreSQL session advisory lock on its own connection.

Two syncs that overlap would clobber each other's staging_layer delta tables (every load empties
and refills them) and could promote a run extracted from stale watermarks. The lock is taken
before the watermarks are read and released after the merge, on a dedicated AUTOCOMMIT
connection, so no transaction of the load or merge ever holds or releases it. If that connection
dies, PostgreSQL releases the lock; `assert_held()` is checked right before the merge so a run
never promotes without it.

The holder's run id travels in the lock connection's application_name, so a refused run can say
which run holds the lock (pg_stat_activity shows it) without any extra table.

Redshift has no advisory locks. There, syncs are serialised by a Prefect global concurrency limit
(SYNC_LIMIT, created by the flow; `prefect_sync_slot`) and, inside the warehouse, by a LOCK on
etl_control.loads at the start of every writing transaction (sql/warehouse/control/lock_sync.sql);
a serialization failure that still happens is retried (`retry_serialization`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from typing import Callable, Iterator, TypeVar

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
    # The Redshift SQL on PostgreSQL (OLIST_WAREHOUSE_SQL=redshift-on-postgresql) is serialised as
    # on Redshift, by the Prefect limit and the LOCK alone, so the tests exercise that path.
    if dialect_of(settings.warehouse_url) != "postgresql" or settings.warehouse_sql == "redshift-on-postgresql":
        # Redshift: the flow holds the Prefect limit SYNC_LIMIT instead, and every writing
        # transaction starts with LOCK etl_control.loads.
        log.info("no advisory locks on this warehouse: syncs are serialised by the Prefect limit %r", SYNC_LIMIT)
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


# --- serialization failures ---------------------------------------------------------------------

T = TypeVar("T")
# Attempts of one transaction that fails to serialise, and the first backoff (doubled each time).
SERIALIZATION_ATTEMPTS = 4
SERIALIZATION_BACKOFF_SECONDS = 1.0
# PostgreSQL: serialization_failure, deadlock_detected. Redshift reports its conflicts as error
# 1023 "Serializable isolation violation on table ..."
# (https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation.html).
_RETRY_SQLSTATES = ("40001", "40P01")
_REDSHIFT_1023 = "serializable isolation violation"


def is_serialization_failure(error: BaseException | None) -> bool:
    """True when `error` (or an error it was raised from) is a serialization conflict."""
    seen = 0
    while error is not None and seen < 10:
        orig = getattr(error, "orig", None) or error
        sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
        if sqlstate in _RETRY_SQLSTATES:
            return True
        text = str(orig).lower()
        if _REDSHIFT_1023 in text or "'c': '40001'" in text:
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def is_creation_collision(error: BaseException | None) -> bool:
    """True when two CREATE ... IF NOT EXISTS of one object raced (PostgreSQL reports a unique
    violation in its catalog); run again, the statement finds the object and does nothing."""
    while error is not None:
        orig = getattr(error, "orig", None) or error
        if getattr(orig, "sqlstate", None) in ("23505", "42P07", "42P06") or "already exists" in str(orig):
            return True
        error = error.__cause__ or error.__context__
    return False


def retry_serialization(
    work: Callable[[], T],
    what: str,
    attempts: int = SERIALIZATION_ATTEMPTS,
    backoff: float = SERIALIZATION_BACKOFF_SECONDS,
    also: Callable[[BaseException], bool] | None = None,
) -> T:
    """Run one transaction (`work`), again after a backoff while it fails to serialise.

    Only serialization conflicts (and what `also` accepts) are retried: the transaction rolled
    back and changed nothing. Any other error is raised at once; after `attempts` conflicts the
    last one is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as err:
            retryable = is_serialization_failure(err) or (also is not None and also(err))
            if attempt == attempts or not retryable:
                raise
            delay = backoff * 2 ** (attempt - 1) * (1 + random.random() / 2)
            log.warning("%s: conflict with a concurrent transaction (attempt %d of %d), retrying in %.1f s: %s", what, attempt, attempts, delay, err)
            time.sleep(delay)
    raise AssertionError("unreachable")


# --- the Prefect global concurrency limit --------------------------------------------------------

# The global concurrency limit every sync takes (one slot), on every warehouse; created by the
# flow when missing. Documented in docs/redshift.md and docs/prefect.md.
SYNC_LIMIT = "olist-sync"
# The run id of the slot's holder, for the message of a run that waited in vain.
HOLDER_VARIABLE = "olist_sync_holder"


def ensure_sync_limit() -> None:
    """Create the global concurrency limit SYNC_LIMIT (one slot) unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(SYNC_LIMIT)
            return
        except ObjectNotFound:
            pass
        with contextlib.suppress(ObjectAlreadyExists):  # another sync created it meanwhile
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=SYNC_LIMIT, limit=1))


def slot_holder() -> str | None:
    """The run id the current holder of SYNC_LIMIT recorded, if any."""
    from prefect.variables import Variable

    return Variable.get(HOLDER_VARIABLE, default=None)


@contextlib.contextmanager
def prefect_sync_slot(run_id: str, wait_seconds: float = 0) -> Iterator[None]:
    """Hold SYNC_LIMIT's one slot for the block; refuse with the holder's run id when the wait
    (`wait_seconds`, at least a moment) runs out."""
    from prefect.concurrency.sync import concurrency
    from prefect.variables import Variable

    ensure_sync_limit()
    acquired = False
    try:
        # lease_duration: the server frees the slot of a holder that died after this long.
        with concurrency(SYNC_LIMIT, occupy=1, timeout_seconds=max(wait_seconds, 1.0), strict=True, lease_duration=120):
            acquired = True
            Variable.set(HOLDER_VARIABLE, run_id, overwrite=True)
            log.info("run %s holds the Prefect concurrency limit %s", run_id, SYNC_LIMIT)
            yield None
    except TimeoutError:
        if acquired:  # raised by the block itself, not by the wait
            raise
        holder = slot_holder() or "unknown"
        waited = f" after waiting {wait_seconds:g}s" if wait_seconds > 0 else ""
        raise SyncAlreadyRunning(
            f"another sync is running (run {holder}, Prefect concurrency limit {SYNC_LIMIT!r}); run {run_id} refused{waited} "
            "and changed nothing. Set OLIST_LOCK_WAIT_SECONDS to wait for it instead."
        ) from None
