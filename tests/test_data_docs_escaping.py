"""Markup in data and names shows as text on every data docs page; every page carries a CSP and
loads nothing from outside the site. Pages are built by GX checkpoints (tests/docs_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from olist_etl.gates import docs
from tests.support.docs import BREAKOUT, ERROR, HOSTILE_TABLE, SVG, build_site, problems, scan

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return build_site(tmp_path_factory.mktemp("olist-home"))


def pages(site) -> list[Path]:
    return sorted(site.root.glob("index.html")) + sorted((site.root / "olist" / "runs").glob("*.html")) + sorted(
        p for p in site.root.rglob("*.html") if p.parts[len(site.root.parts)] in ("validations", "expectations")
    )


def test_every_page_shows_markup_as_text_and_carries_a_strict_policy(site):
    every = pages(site)
    assert len(every) == 1 + 3 + 6 + 2  # index, 3 run pages, 2 tables x 3 runs, 2 suites

    for path in every:
        assert problems(scan(path)) == [], path

    blocked_page = next((site.root / "validations" / "delta" / "orders" / site.blocked).rglob("*.html"))
    text = scan(blocked_page).plain
    assert SVG in text and BREAKOUT in text  # the offending values, as text, in GX's unexpected table
    index = scan(site.root / "index.html").plain
    assert HOSTILE_TABLE in index and ERROR in index
    for run in (site.blocked, site.failed):
        text = scan(site.root / "olist" / "runs" / f"{run}.html").plain
        assert HOSTILE_TABLE in text
    assert SVG in scan(site.root / "olist" / "runs" / f"{site.blocked}.html").plain
    assert ERROR in scan(site.root / "olist" / "runs" / f"{site.failed}.html").plain


def test_the_scan_catches_raw_markup_a_missing_policy_and_remote_assets(tmp_path):
    raw = tmp_path / "raw.html"
    raw.write_text(f"<html><head><link rel=stylesheet href='https://cdn.example/b.css'></head><body><td>{SVG}</td><td>{IMG_ATTR}</td></body></html>")
    found = problems(scan(raw))
    assert "<svg> element" in found and "onload= handler on <svg>" in found
    assert "onerror= handler on <img>" in found
    assert "no Content-Security-Policy" in found
    assert any("loads from outside the site" in f for f in found)

    late = tmp_path / "late.html"
    late.write_text(f'<html><head><link rel=stylesheet href="a.css"><meta http-equiv="Content-Security-Policy" content="{docs.CSP}"></head></html>')
    assert problems(scan(late)) == ["a stylesheet comes before the Content-Security-Policy"]


IMG_ATTR = "<img src=x onerror=alert(3)>"


def test_gx_own_markup_is_not_escaped_into_text(site):
    """Escaping everything would be safe and useless: GX's status icons and tables stay markup."""
    page = scan(next((site.root / "validations" / "delta" / "orders" / site.blocked).rglob("*.html")))
    assert "<" + "span" not in page.plain and "&lt;" not in page.plain
    classes = " ".join(attrs.get("class", "") for _, attrs in page.tags)
    assert "fa-times" in classes and "fa-check-circle" in classes
    assert any(tag == "table" for tag, _ in page.tags)


def test_run_ids_cannot_name_files_outside_the_runs_folder(tmp_path):
    from tests.support.services import make_settings

    settings = make_settings(tmp_path / "home", source_url="sqlite://", warehouse_url=None)
    page = docs.record_run(settings, "../../evil", "failed", error="x")
    assert page.parent == docs.docs_dir(settings) / "olist" / "runs"
    assert page.name == "_.._evil.html"


def test_every_view_escapes_through_one_shared_environment():
    # Views share their compiled templates (GX makes a view per page); the shared environment must
    # still escape, and a view of other directories must not get it.
    first, second = docs.OfflinePageView(), docs.OfflinePageView()
    other = docs.OfflinePageView(custom_views_directory=str(docs.ASSETS / "views"))
    assert second.env is first.env and other.env is not first.env
    assert first.env.autoescape is True and other.env.autoescape is True
    rendered = second.render_content_block({}, SVG)
    assert "<svg" not in rendered and "&lt;svg" in rendered
