"""Which task runner the sync flow submits its table tasks to, chosen from the environment.

Unset: Prefect's default (a thread pool in the flow's process). OLIST_DASK_ADDRESS=tcp://host:8786
(or tls://...): an existing Dask cluster. OLIST_DASK_WORKERS=N: a local Dask cluster of N worker
processes, one thread each, started for the flow run and closed with it (every core of this
machine, where one process holds the GIL), forked from a preloaded forkserver (local_cluster).
docs/prefect.md, "Running on a Dask cluster".

The settings reach a worker inside the pickled task call, never as a Prefect parameter: task runs
record no parameter values (tasks/ use NO_CACHE, so no cache key is computed from them either), and
a SecretUrl prints masked in any log or repr (olist_etl/settings.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ADDRESS_VARIABLE = "OLIST_DASK_ADDRESS"
WORKERS_VARIABLE = "OLIST_DASK_WORKERS"
_SCHEMES = ("tcp://", "tls://", "ucx://", "ws://", "wss://", "inproc://")


@dataclass(frozen=True)
class RunnerChoice:
    """What the environment asks for: an address, a local worker count, or neither (the default)."""

    address: str | None = None
    workers: int | None = None

    @property
    def name(self) -> str:
        if self.address:
            return f"dask cluster at {self.address}"
        if self.workers:
            return f"local dask cluster of {self.workers} worker processes"
        return "default (threads in the flow process)"


def runner_choice(environ: dict[str, str] | None = None) -> RunnerChoice:
    """Read and check OLIST_DASK_ADDRESS / OLIST_DASK_WORKERS; a bad value is one readable error."""
    environ = os.environ if environ is None else environ
    address = (environ.get(ADDRESS_VARIABLE) or "").strip()
    workers_raw = (environ.get(WORKERS_VARIABLE) or "").strip()
    if address and workers_raw:
        raise ValueError(f"set {ADDRESS_VARIABLE} (an existing cluster) or {WORKERS_VARIABLE} (a local one), not both")
    if address:
        if not address.startswith(_SCHEMES) or len(address) <= address.index("://") + 3:
            raise ValueError(f"{ADDRESS_VARIABLE} must be a Dask scheduler address such as tcp://host:8786, got {address!r}")
        return RunnerChoice(address=address)
    if workers_raw:
        try:
            workers = int(workers_raw)
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"{WORKERS_VARIABLE} must be a whole number >= 1, got {workers_raw!r}")
        return RunnerChoice(workers=workers)
    return RunnerChoice()


def task_runner(environ: dict[str, str] | None = None):
    """The Prefect task runner the environment selects; None keeps the flow's default.

    prefect-dask is imported only when a Dask runner is asked for: the default path pays nothing.
    """
    choice = runner_choice(environ)
    if choice.address is None and choice.workers is None:
        return None
    from prefect_dask import DaskTaskRunner

    if choice.address:
        return DaskTaskRunner(address=choice.address)
    return DaskTaskRunner(
        cluster_class=local_cluster,
        # Processes, one thread each: the extract and the gates are CPU-bound Python.
        cluster_kwargs={"n_workers": choice.workers, "processes": True, "threads_per_worker": 1, "dashboard_address": None},
    )


# What the table tasks import. A worker forked from a server that imported these once starts in
# a fraction of a second; a spawned one imports them itself, about 8 s of CPU each, every run.
WORKER_PRELOAD = (
    "distributed", "pandas", "pyarrow", "pyarrow.csv", "sqlalchemy", "pymysql", "psycopg", "boto3",
    "great_expectations", "prefect", "prefect_dask",
    "olist_etl.extract", "olist_etl.arrow_extract", "olist_etl.load", "olist_etl.merge",
    "olist_etl.gates.staged", "olist_etl.gates.delta",
)


def local_cluster(**cluster_kwargs):
    """A distributed.LocalCluster whose worker processes fork from a forkserver (Python's
    multiprocessing) that preloaded WORKER_PRELOAD, instead of spawning fresh interpreters.

    The forkserver is a clean single-threaded process, started at the first cluster and kept for
    the process's life, so later clusters of the same process (a test session, a long-lived
    caller) start at once. It keeps the environment it started with: the workers are given the
    current one (`env`), as spawned workers would inherit it.
    """
    import multiprocessing

    import dask
    from distributed import LocalCluster
    from distributed.utils import get_mp_context

    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    get_mp_context()  # distributed sets its own preload list once; WORKER_PRELOAD replaces it
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_PRELOAD))
    return LocalCluster(env=dict(os.environ), **cluster_kwargs)
