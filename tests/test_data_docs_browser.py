"""The data docs of a blocked run, as an analyst sees them: rendered by headless Chromium.

Chromium must be installed beforehand (CI: `apt-get install -y chromium`); the test installs
nothing and, without it, is skipped with the reason (fails under CI).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from olist_etl.staging import open_staging
from olist_etl.gates.delta import GateFailed
from olist_etl.gates.staged import run_staged_gate
from tests.conftest import make_settings, unavailable
from tests.test_gate_staged import clean_rows, stage

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("headless Chromium is not installed (apt-get install -y chromium)")


def browse(browser: str, page: Path, profile: Path, *, screenshot: Path | None = None) -> str:
    """The DOM after the page's scripts ran (or, with `screenshot`, a PNG of the window)."""
    args = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,2000",
        "--virtual-time-budget=5000",  # let the page's scripts finish before the dump, without a wall-clock wait
    ]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run(args + [page.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def visible_text(dom: str) -> str:
    """The DOM's text without scripts, styles and tags, whitespace collapsed."""
    dom = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", dom)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


@pytest.fixture
def blocked_docs(olist_home, tmp_path) -> Path:
    staging = (tmp_path / "staging").as_uri()
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=None, staging_url=staging)
    rows = clean_rows()
    rows["order_items"][1]["price"] = "-4.00"
    with pytest.raises(GateFailed):
        run_staged_gate(settings, stage(open_staging(staging), rows), previous_rows={})
    return olist_home / "data_docs"


def test_blocked_run_data_docs_show_the_failing_expectation_in_chromium(blocked_docs, tmp_path):
    browser = chromium()
    index = blocked_docs / "index.html"

    shot = tmp_path / "index.png"
    browse(browser, index, tmp_path / "profile-1", screenshot=shot)
    index_text = visible_text(browse(browser, index, tmp_path / "profile-2"))

    assert shot.read_bytes()[:8] == PNG_MAGIC and shot.stat().st_size > 10_000  # a rendered page, not a blank one
    # The index names the run, gate, table, column, expectation, count and sample, with no network.
    assert "gate-staged-parts order_items expect_column_values_to_be_between price critical FAILED 1 [\"-4.00\"]" in index_text
    # The index links each table's validation page; the blocked table's page names the failure.
    page = next((blocked_docs / "validations" / "staged" / "order_items").rglob("*.html"))
    page_shot = tmp_path / "order_items.png"
    browse(browser, page, tmp_path / "profile-3", screenshot=page_shot)
    page_text = visible_text(browse(browser, page, tmp_path / "profile-4"))
    assert page_shot.read_bytes()[:8] == PNG_MAGIC
    assert "expect_column_values_to_be_between (critical)" in page_text
    assert "-4.00" in page_text
    assert "1 unexpected values found" in page_text  # GX states the count only when given the rows read
    assert "Failed" in page_text or "failed" in page_text


def test_a_passing_table_page_shows_no_failure(blocked_docs, tmp_path):
    browser = chromium()
    page = next((blocked_docs / "validations" / "staged" / "sellers").rglob("*.html"))

    text = visible_text(browse(browser, page, tmp_path / "profile"))

    assert "expect_column_values_to_match_regex (critical)" in text  # the suite's checks are listed
    assert "-4.00" not in text
