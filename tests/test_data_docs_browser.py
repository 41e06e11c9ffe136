"""The data docs as an analyst sees them: headless Chromium, offline, file:// only.

The site is built by GX checkpoints (tests/docs_support.py): a blocked run, a promoted run and a
run that failed on an error. Chromium must be installed (see tests/browser_support.py).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from tests.support.browser import PNG_MAGIC, browse, chromium, inspect_page, remote_requests
from tests.support.docs import BREAKOUT, ERROR, HOSTILE_TABLE, SVG, build_site

RED = "rgb(200, 35, 51)"
GREEN = "rgb(30, 126, 52)"
FAILED_ROW = "rgb(251, 233, 235)"
PROBES = [
    ("failed_icon", ".fa-times", "::before"),
    ("passed_icon", ".fa-check-circle", "::before"),
    ("failed_row", "tr.olist-row-failed", None),
    ("failed_run", ".olist-status-failed", None),
    ("blocked_run", ".olist-status-blocked", None),
    ("body", "body", None),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp("olist-home"))


def local_only(seen: dict) -> None:
    assert all(url.startswith("file://") for url in seen["resources"]), seen["resources"]
    assert seen["stylesheets"] and all(s == "inline" or s.startswith("file://") for s in seen["stylesheets"])
    assert seen["injected"] == []  # markup in data created no element
    assert seen["csp"] and "script-src 'none'" in seen["csp"][0]


def target(link: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlparse(link).path))


def test_index_offline_shows_every_run_with_its_true_status_and_links_its_pages(site, tmp_path):
    browser = chromium()
    index = site.root / "index.html"
    net_log = tmp_path / "net.json"
    shot = tmp_path / "index.png"
    browse(browser, index, tmp_path / "shot-profile", screenshot=shot, net_log=net_log)
    seen = inspect_page(browser, index, tmp_path / "inspect", PROBES)

    assert shot.read_bytes()[:8] == PNG_MAGIC and shot.stat().st_size > 10_000  # a rendered page
    assert remote_requests(net_log) == []
    local_only(seen)
    # Styled by the site's own stylesheet: its status colours and icons, not the browser defaults.
    assert any(sheet.endswith("/static/olist/offline.css") for sheet in seen["stylesheets"])
    assert seen["probes"]["failed_icon"]["content"] == '"\u2718"' and seen["probes"]["failed_icon"]["color"] == RED
    assert seen["probes"]["passed_icon"]["content"] == '"\u2714"' and seen["probes"]["passed_icon"]["color"] == GREEN
    assert seen["probes"]["failed_row"]["background"] == FAILED_ROW
    assert seen["probes"]["failed_run"]["background"] == "rgb(111, 66, 193)"
    assert seen["probes"]["blocked_run"]["background"] == RED

    text = " ".join(seen["text"].split())
    # Each run with the outcome the flow recorded: the errored run is "failed", never "passed".
    assert f"{site.failed} failed incremental" in text and ERROR in text
    assert f"{site.blocked} blocked full" in text and f"{site.promoted} promoted full" in text
    # GX's validation list is filled (6 validations), newest first, the failed ones marked.
    assert text.count("Failed 2026-11-30") == 1 and text.count("Success 2026-11-30") == 5
    assert HOSTILE_TABLE in text

    links = {name: href for name, href in seen["links"]}
    for run in (site.promoted, site.blocked, site.failed):
        assert target(links[run]).is_file()  # the run page
        pages = [href for _, href in seen["links"] if f"/{run}/" in href]
        assert len(pages) >= 2 and all(target(p).is_file() for p in pages), run  # passing runs too


def test_a_failed_validation_page_marks_the_failed_row_offline(site, tmp_path):
    browser = chromium()
    page = next((site.root / "validations" / "delta" / "orders" / site.blocked).rglob("*.html"))
    net_log = tmp_path / "net.json"
    browse(browser, page, tmp_path / "profile", net_log=net_log)
    seen = inspect_page(browser, page, tmp_path / "inspect", PROBES)

    assert remote_requests(net_log) == []
    local_only(seen)
    assert seen["probes"]["failed_icon"]["content"] == '"\u2718"' and seen["probes"]["failed_icon"]["color"] == RED
    text = " ".join(seen["text"].split())
    assert "Status: Failed" in text
    assert "2 unexpected values found" in text
    assert SVG in text and BREAKOUT in text  # the offending values, shown as text
    assert "Unsuccessful Expectations 2" in text


def test_a_passing_validation_page_shows_no_failure(site, tmp_path):
    browser = chromium()
    page = next((site.root / "validations" / "delta" / "orders" / site.promoted).rglob("*.html"))
    seen = inspect_page(browser, page, tmp_path / "inspect", PROBES)

    local_only(seen)
    assert seen["probes"]["failed_icon"] is None and seen["probes"]["passed_icon"]["color"] == GREEN
    assert "Unsuccessful Expectations 0" in " ".join(seen["text"].split())


def test_the_failed_run_page_names_the_error_and_links_what_its_gate_checked(site, tmp_path):
    browser = chromium()
    page = site.root / "olist" / "runs" / f"{site.failed}.html"
    seen = inspect_page(browser, page, tmp_path / "inspect", PROBES)

    local_only(seen)
    text = " ".join(seen["text"].split())
    assert f"Run {site.failed} failed" in text and ERROR in text
    assert seen["probes"]["failed_run"]["background"] == "rgb(111, 66, 193)"
    pages = [href for name, href in seen["links"] if name in ("orders", HOSTILE_TABLE)]
    assert len(pages) == 2 and all(target(p).is_file() for p in pages)


def test_the_checks_see_remote_requests_and_markup_when_a_page_has_them(tmp_path):
    """The same harness and net log flag a page that loads from the network and runs injected markup."""
    browser = chromium()
    page = tmp_path / "unsafe.html"
    # An onload that returns at once: alert() would hold headless Chromium until its timeout.
    page.write_text('<html><head><link rel="stylesheet" href="local.css"></head><body><p><svg/onload="document.title=1"></p>'
                    '<img src="http://127.0.0.1:1/probe.png"></body></html>')
    net_log = tmp_path / "net.json"
    browse(browser, page, tmp_path / "profile", net_log=net_log)
    seen = inspect_page(browser, page, tmp_path / "inspect", PROBES)

    assert remote_requests(net_log) == ["http://127.0.0.1:1/probe.png"]
    assert "http://127.0.0.1:1/probe.png" in seen["resources"]
    assert seen["injected"] and seen["injected"][0].startswith("<svg")
    assert not seen["csp"]
