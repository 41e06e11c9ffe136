"""Progress artifacts: how far each table's extract and load has got, shown live in the Prefect UI.

A progress artifact is created at 0 when a table's work starts and updated as parts are written
or loaded; only whole-percent changes are sent, so a table costs at most ~100 API calls whatever
its size. Outside a flow or task run (tests calling `.fn`, a plain script) it sends nothing.
Every update also goes to the terminal (olist_etl.console: rich bars on a TTY, plain lines otherwise,
always on stderr), whether or not artifacts are enabled.
"""

from __future__ import annotations

import logging
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.utilities.context import get_task_and_flow_run_ids

from olist_etl.console import TableProgress

log = logging.getLogger(__name__)


def progress_key(stage: str, table: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only: olist-extract-order-items."""
    return f"olist-{stage}-{table.replace('_', '-')}"


class Progress:
    """One table's progress artifact; `total` may be set after creation (0 or None: no estimate)."""

    def __init__(self, stage: str, table: str, description: str, total: int | None = None):
        self.key = progress_key(stage, table)
        self.total = total
        self._done = 0
        self._terminal = TableProgress(stage, table, self.key)
        self._sent: int | None = None
        self._artifact_id: UUID | None = None
        task_run_id, flow_run_id = get_task_and_flow_run_ids()
        self.enabled = task_run_id is not None or flow_run_id is not None
        if self.enabled:
            self._send(0, lambda: create_progress_artifact(0.0, key=self.key, description=description, _sync=True))

    def update(self, done: int) -> None:
        """Report `done` rows out of `total`; capped below 100 until finish() (the count is a bound).
        Called once per part written or loaded, which is how the terminal counts parts."""
        self._done = done
        self._terminal.update(done, self.total)
        if not self.enabled or not self.total:
            return
        percent = min(99, 100 * done // self.total)
        if percent != self._sent:
            self._send(percent, lambda: update_progress_artifact(self._artifact_id, float(percent), _sync=True))

    def finish(self) -> None:
        """The table's work is done: 100, whatever the estimate said."""
        self._terminal.finish(self._done)
        if self.enabled and self._sent != 100:
            self._send(100, lambda: update_progress_artifact(self._artifact_id, 100.0, _sync=True))

    def _send(self, percent: int, call) -> None:
        try:
            result = call()
        except Exception as err:  # a progress bar must never fail an extract or a load
            log.warning("progress artifact %s: %s; no further updates", self.key, err)
            self.enabled = False
            return
        if self._artifact_id is None:
            self._artifact_id = result
        self._sent = percent
