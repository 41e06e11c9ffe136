"""Progress on the terminal: what olist_etl/progress.py sends to the Prefect UI, shown on stderr too.

On a TTY, rich progress bars (rows, parts, rate, ETA when the total is known); otherwise plain
lines, at most one every PLAIN_INTERVAL seconds per table plus one when it is done. Always stderr,
never stdout: `sync --json` keeps stdout for its one JSON object. No Prefect import here.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
import time
from typing import Callable, Iterator, TextIO

PLAIN_INTERVAL = 10.0  # seconds between two plain lines of one table


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "- rows/s"


def format_line(stage: str, table: str, rows: int, parts: int, total: int | None, seconds: float, done: bool = False) -> str:
    """One plain progress line: `extract orders: 1,500/3,000 rows (50%), 1 part, 900 rows/s, ETA 2s`."""
    if rows < 0 or parts < 0 or seconds < 0:
        raise ValueError(f"{stage} {table}: progress counts must not be negative (rows={rows}, parts={parts}, seconds={seconds})")
    part_word = "part" if parts == 1 else "parts"
    if done:
        return f"{stage} {table}: done, {rows:,} rows, {parts} {part_word} in {seconds:.1f}s ({_rate(rows, seconds)})"
    line = f"{stage} {table}: {rows:,}"
    if total:
        # The total is counted before the read: rows added since can push `rows` past it.
        line += f"/{total:,} rows ({min(99, 100 * rows // total)}%)"
    else:
        line += " rows"
    line += f", {parts} {part_word}, {_rate(rows, seconds)}"
    if total and rows and seconds > 0 and rows < total:
        line += f", ETA {(total - rows) * seconds / rows:.0f}s"
    return line


class PlainProgress:
    """Periodic lines, throttled per table; `clock` and `stream` are injectable for tests."""

    def __init__(self, stream: Callable[[], TextIO] = lambda: sys.stderr, clock: Callable[[], float] = time.monotonic,
                 interval: float = PLAIN_INTERVAL):
        self._stream, self._clock, self.interval = stream, clock, interval
        self._started: dict[str, float] = {}
        self._printed: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self, key: str) -> None:
        with self._lock:
            self._started[key] = self._printed[key] = self._clock()

    def update(self, key: str, stage: str, table: str, rows: int, parts: int, total: int | None) -> None:
        now = self._clock()
        with self._lock:
            if now - self._printed.get(key, now) < self.interval:
                return
            self._printed[key] = now
            seconds = now - self._started.get(key, now)
        self._write(format_line(stage, table, rows, parts, total, seconds))

    def finish(self, key: str, stage: str, table: str, rows: int, parts: int) -> None:
        now = self._clock()
        with self._lock:
            seconds = now - self._started.pop(key, now)
            self._printed.pop(key, None)
        self._write(format_line(stage, table, rows, parts, None, seconds, done=True))

    def phase(self, name: str, seconds: float | None) -> None:
        self._write(f"{name}: started" if seconds is None else f"{name}: done in {seconds:.1f}s")

    def _write(self, line: str) -> None:
        stream = self._stream()
        print(line, file=stream, flush=True)


class RichProgress:
    """Rich bars on stderr; one Live display while any table is in progress, stopped when none is."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
        )

        self._console = Console(stderr=True)
        self._columns = (
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[parts]} parts"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        )
        self._progress_class = Progress
        self._progress = None
        self._tasks: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def start(self, key: str) -> None:
        with self._lock:
            self._started[key] = time.monotonic()

    def _task(self, key: str, stage: str, table: str, total: int | None) -> int:
        if self._progress is None:
            # redirect_stdout=False: stdout may carry `--json`'s object; the display stays on stderr.
            self._progress = self._progress_class(
                *self._columns, console=self._console, redirect_stdout=False, redirect_stderr=False, transient=False,
            )
            self._progress.start()
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(f"{stage} {table}", total=total or None, parts=0, rate="")
        return self._tasks[key]

    def update(self, key: str, stage: str, table: str, rows: int, parts: int, total: int | None) -> None:
        with self._lock:
            task = self._task(key, stage, table, total)
            seconds = time.monotonic() - self._started.get(key, time.monotonic())
            self._progress.update(task, completed=rows, total=total or None, parts=parts, rate=_rate(rows, seconds))

    def finish(self, key: str, stage: str, table: str, rows: int, parts: int) -> None:
        with self._lock:
            task = self._task(key, stage, table, rows)
            seconds = time.monotonic() - self._started.pop(key, time.monotonic())
            self._progress.update(task, completed=rows, total=max(rows, 1), parts=parts, rate=_rate(rows, seconds))
            self._progress.stop_task(task)
            del self._tasks[key]
            if not self._tasks:
                self.close_locked()

    def phase(self, name: str, seconds: float | None) -> None:
        with self._lock:
            target = self._progress.console if self._progress is not None else self._console
            target.print(f"{name}: started" if seconds is None else f"{name}: done in {seconds:.1f}s")

    def close_locked(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._tasks.clear()

    def close(self) -> None:
        with self._lock:
            self.close_locked()


_display: PlainProgress | RichProgress | None = None
_display_lock = threading.Lock()


def display() -> PlainProgress | RichProgress:
    """The process's display, chosen once from whether stderr is a terminal."""
    global _display
    with _display_lock:
        if _display is None:
            isatty = getattr(sys.stderr, "isatty", None)
            if isatty is not None and isatty():
                _display = RichProgress()
                atexit.register(_display.close)  # a table that failed never finishes its bar
            else:
                _display = PlainProgress()
        return _display


class TableProgress:
    """One table's stage on the terminal; never raises (progress must not fail a sync)."""

    def __init__(self, stage: str, table: str, key: str):
        self.stage, self.table, self.key = stage, table, key
        self.parts = 0
        self._safe(lambda: display().start(key))

    def update(self, rows: int, total: int | None) -> None:
        self.parts += 1  # called once per part written or loaded
        self._safe(lambda: display().update(self.key, self.stage, self.table, rows, self.parts, total))

    def finish(self, rows: int) -> None:
        self._safe(lambda: display().finish(self.key, self.stage, self.table, rows, self.parts))

    @staticmethod
    def _safe(call) -> None:
        with contextlib.suppress(Exception):
            call()


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """A run phase without rows to count (gates, merge): a line when it starts and when it ends."""
    started = time.monotonic()
    TableProgress._safe(lambda: display().phase(name, None))
    yield
    TableProgress._safe(lambda: display().phase(name, time.monotonic() - started))
