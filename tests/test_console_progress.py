"""Progress on the terminal (olist_etl.console): plain lines when stderr is not a TTY, throttled
per table; rich bars on a TTY; never anything on stdout, `sync --json` included."""

from __future__ import annotations

import io
import json
import re

import pytest

from olist_etl import console
from olist_etl.app.cli import main
from olist_etl.tables import TABLE_NAMES


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain(clock: FakeClock) -> tuple[console.PlainProgress, io.StringIO]:
    out = io.StringIO()
    return console.PlainProgress(stream=lambda: out, clock=clock, interval=10.0), out


def test_format_line_shows_rows_total_parts_rate_and_eta():
    line = console.format_line("extract", "orders", 1500, 1, 3000, 2.0)
    assert line == "extract orders: 1,500/3,000 rows (50%), 1 part, 750 rows/s, ETA 2s"
    # Without a total there is neither a percentage nor an ETA.
    assert console.format_line("load", "orders", 3000, 2, None, 2.0) == "load orders: 3,000 rows, 2 parts, 1,500 rows/s"
    # Rows added after the count can pass the total: never over 99% and no negative ETA.
    assert console.format_line("extract", "orders", 3100, 3, 3000, 1.0) == "extract orders: 3,100/3,000 rows (99%), 3 parts, 3,100 rows/s"
    done = console.format_line("extract", "orders", 3000, 2, 3000, 4.0, done=True)
    assert done == "extract orders: done, 3,000 rows, 2 parts in 4.0s (750 rows/s)"


def test_format_line_refuses_negative_counts_naming_the_table():
    with pytest.raises(ValueError, match=r"extract orders: .*rows=-1"):
        console.format_line("extract", "orders", -1, 1, 10, 1.0)


def test_plain_lines_are_throttled_per_table_and_the_done_line_always_prints():
    clock = FakeClock()
    display, out = plain(clock)
    display.start("olist-extract-orders")
    display.start("olist-extract-sellers")

    clock.now += 3
    display.update("olist-extract-orders", "extract", "orders", 1500, 1, 6000)
    assert out.getvalue() == "", "a line within 10 s of the start is throttled"

    clock.now += 8  # 11 s after the start
    display.update("olist-extract-orders", "extract", "orders", 3000, 2, 6000)
    display.update("olist-extract-sellers", "extract", "sellers", 100, 1, None)  # another table has its own clock
    clock.now += 9  # 9 s after the last orders line
    display.update("olist-extract-orders", "extract", "orders", 4500, 3, 6000)
    lines = out.getvalue().splitlines()
    assert lines == [
        "extract orders: 3,000/6,000 rows (50%), 2 parts, 273 rows/s, ETA 11s",
        "extract sellers: 100 rows, 1 part, 9 rows/s",
    ]

    clock.now += 1
    display.update("olist-extract-orders", "extract", "orders", 6000, 4, 6000)
    display.finish("olist-extract-orders", "extract", "orders", 6000, 4)
    lines = out.getvalue().splitlines()
    assert lines[2:] == [
        "extract orders: 6,000/6,000 rows (99%), 4 parts, 286 rows/s",
        "extract orders: done, 6,000 rows, 4 parts in 21.0s (286 rows/s)",
    ]


def test_prefect_side_progress_reaches_stderr_and_never_stdout(monkeypatch, capsys):
    from olist_etl.progress import Progress

    monkeypatch.setattr(console, "_display", None)  # chosen again: pytest's stderr is not a TTY
    progress = Progress("load", "order_items", "test rows", total=20)  # outside a flow: no artifacts
    assert not progress.enabled
    progress.update(10)
    progress.update(20)
    progress.finish()
    captured = capsys.readouterr()
    assert captured.out == ""
    # Within 10 s of the start only the done line prints, counting one part per update.
    assert re.fullmatch(r"load order_items: done, 20 rows, 2 parts in \d+\.\ds \([\d,]+ rows/s\)\n", captured.err), captured.err


def test_rich_bars_render_on_stderr_only(monkeypatch, capsys):
    display = console.RichProgress()
    monkeypatch.setattr(console, "_display", display)
    progress = console.TableProgress("extract", "customers", "olist-extract-customers")
    progress.update(500, 1000)
    progress.update(1000, 1000)
    progress.finish(1000)
    with console.phase("merge"):
        pass
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "extract customers" in captured.err and "1000/1000" in captured.err
    assert "merge: done in" in captured.err
    assert display._progress is None, "the live display stops once no table is in progress"


@pytest.mark.integration
def test_sync_json_keeps_stdout_to_one_object_and_shows_extract_progress_on_stderr(
    monkeypatch, capsys, olist_home, mariadb_url, postgres_url, prefect_api
):
    for key, value in {
        "OLIST_HOME": str(olist_home),
        "OLIST_SOURCE_URL": mariadb_url,
        "OLIST_WAREHOUSE_URL": postgres_url,
        "OLIST_STAGING_URL": (olist_home / "staging").as_uri(),
        "OLIST_PART_ROWS": "1500",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(console, "_display", None)
    assert main(["seed-source", "--scale", "0.01", "--seed", "3"]) == 0
    capsys.readouterr()

    code = main(["sync", "--mode", "full", "--json"])
    captured = capsys.readouterr()

    lines = [line for line in captured.out.splitlines() if line.strip()]
    assert len(lines) == 1, f"stdout must hold exactly one JSON object, got: {captured.out!r}"
    summary = json.loads(lines[0])
    assert code == 0 and summary["status"] == "promoted", summary
    progress = [line for line in captured.err.splitlines() if line.startswith(("extract ", "load "))]
    for table in TABLE_NAMES:
        rows = summary["tables"][table]["extracted"]
        assert any(line.startswith(f"extract {table}: done, {rows:,} rows") for line in progress), (table, progress)
        assert any(line.startswith(f"load {table}: done, {rows:,} rows") for line in progress), (table, progress)
    assert not any("extract " in line or "load " in line for line in captured.out.splitlines())
