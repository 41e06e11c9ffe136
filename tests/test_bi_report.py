"""`olist-etl report`: one self-contained HTML file from the analytics views, checked as a file and
as headless Chromium renders it (Chromium must be installed beforehand, CI: `apt-get install -y
chromium`; without it the browser test is skipped with the reason, and fails under CI)."""

from __future__ import annotations

import html
import json
import re
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from olist_etl.bi_report import BAR_COLOR, SECTIONS, ReportError, warehouse_label, write_report
from olist_etl.app.cli import main
from olist_etl.settings import SecretUrl
from tests.support.services import make_settings
from tests.support.browser import PNG_MAGIC, chromium
from tests.support.pipeline import synced_warehouse

pytestmark = pytest.mark.integration

CHART_COUNT = sum(len(section.charts) for section in SECTIONS)
PASSWORD = "s3cret-Pw-4-report"


def with_password(url: str) -> str:
    # The test server trusts local connections, so the password is ignored there; the report
    # must still never show it.
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def synced(prefect_api, tmp_path_factory):
    with synced_warehouse(tmp_path_factory.mktemp("olist-home")) as result:
        yield result


@pytest.fixture(scope="module")
def report(synced, tmp_path_factory) -> Path:
    _, _, settings, _ = synced
    settings = settings.with_warehouse(with_password(settings.warehouse_url.reveal()), embedded=False)
    return write_report(settings, tmp_path_factory.mktemp("report") / "report.html")


def test_report_command_writes_the_file_and_prints_its_path(synced, tmp_path, monkeypatch, capsys):
    _, _, settings, _ = synced
    monkeypatch.setenv("OLIST_HOME", str(settings.home))
    monkeypatch.setenv("OLIST_WAREHOUSE_URL", with_password(settings.warehouse_url.reveal()))
    output = tmp_path / "out" / "olist.html"

    code = main(["report", "--output", str(output)])

    out = capsys.readouterr().out
    assert code == 0
    assert out.strip() == str(output.resolve())
    assert output.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_is_self_contained_and_shows_every_view(report, synced):
    _, warehouse, settings, _ = synced
    text = report.read_text(encoding="utf-8")

    # Nothing to fetch: no URL of any scheme, no script, no external style, font or image.
    for forbidden in ("http:", "https:", "//", "<script", "src=", "<link", "url(", "@import", "<img", "<iframe"):
        assert forbidden not in text.lower(), forbidden
    assert text.count('<svg class="chart"') == CHART_COUNT
    # The warehouse by name, never its password or URL; when it was written and from which sync.
    assert PASSWORD not in text and "postgresql+psycopg" not in text
    assert make_url(settings.warehouse_url.reveal()).database in text
    assert re.search(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)
    with warehouse.connect() as conn:
        last_run = conn.execute(sa.text("select run_id from etl_control.runs order by finished_at desc limit 1")).scalar_one()
    assert f"incremental sync {last_run}" in text
    # Every view's rows are in its table, one <tr> per row, and the revenue total is printed.
    with warehouse.connect() as conn:
        for section in SECTIONS:
            rows = conn.execute(sa.text(f"select count(*) from user_access_layer.{section.view}")).scalar_one()
            body = re.search(rf'<section id="{section.view}">.*?<tbody>(.*?)</tbody>', text, re.S).group(1)
            assert body.count("<tr>") == rows > 0, section.view
        top_state, top_revenue = conn.execute(
            sa.text("select customer_state, revenue from user_access_layer.revenue_by_state order by revenue desc limit 1")
        ).one()
    assert f"<td>{top_state}</td>" in text and f"R$ {top_revenue:,.2f}" in text


# --- in Chromium -------------------------------------------------------------------------------

# Appended to a copy of the report only: records where each chart and its bars were laid out.
MEASURE = """<script>
addEventListener('load', () => {
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => {
    const box = svg.getBoundingClientRect();
    const bars = [...svg.querySelectorAll('rect.bar')].map(b => b.getBoundingClientRect()).filter(b => b.width > 0 && b.height > 0);
    return {id: svg.id, x: box.left + scrollX, y: box.top + scrollY, width: box.width, height: box.height,
            bars: bars.length, bar_area: bars.reduce((sum, b) => sum + b.width * b.height, 0)};
  });
  const out = document.createElement('pre');
  out.id = 'measured';
  out.textContent = JSON.stringify({charts, height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>"""


def run_chromium(browser: str, page: Path, profile: Path, width: int, height: int, *extra: str) -> str:
    args = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1",
        f"--user-data-dir={profile}", f"--window-size={width},{height}", "--virtual-time-budget=5000", *extra,
        page.as_uri(),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def measure(browser: str, report: Path, tmp_path: Path, width: int) -> dict:
    probe = tmp_path / "measure.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = run_chromium(browser, probe, tmp_path / "profile-measure", width, 1000, "--dump-dom")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    return json.loads(html.unescape(found.group(1)))


def decode_png(data: bytes) -> np.ndarray:
    """Pixels (height, width, channels) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == PNG_MAGIC
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    pixels = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((np.frombuffer(line, np.uint8) + np.frombuffer(prev, np.uint8)).tobytes())
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels[y * stride:(y + 1) * stride] = line
        prev = line
    return np.frombuffer(bytes(pixels), np.uint8).reshape(height, width, bpp)[:, :, :3]


def test_chromium_renders_every_chart_with_its_bars(report, tmp_path):
    browser = chromium()
    width = 1200

    # Where Chromium lays out the charts and their bars.
    layout = measure(browser, report, tmp_path, width)
    # A screenshot of the report itself (not the measuring copy), tall enough for the whole page.
    shot = tmp_path / "report.png"
    run_chromium(browser, report, tmp_path / "profile-shot", width, layout["height"], f"--screenshot={shot}")
    image = decode_png(shot.read_bytes())

    assert image.shape[:2] == (layout["height"], width)
    assert len(layout["charts"]) == CHART_COUNT
    bar_rgb = np.array([int(BAR_COLOR[i:i + 2], 16) for i in (1, 3, 5)])
    for chart in layout["charts"]:
        assert chart["width"] > 300 and chart["height"] > 100, chart
        assert chart["bars"] > 0 and chart["bar_area"] > 100, chart
        x, y = int(chart["x"]), int(chart["y"])
        area = image[y:y + int(chart["height"]), x:x + int(chart["width"])]
        painted = int((np.abs(area.astype(int) - bar_rgb).sum(axis=2) <= 12).sum())
        # The bars' pixels really are on screen, where the layout put them (anti-aliased edges aside).
        assert painted >= 0.8 * chart["bar_area"], (chart["id"], painted, chart["bar_area"])
    # And nowhere else: the bar colour outside the charts would mean charts drawn in the wrong place.
    outside = np.ones(image.shape[:2], bool)
    for chart in layout["charts"]:
        outside[int(chart["y"]):int(chart["y"] + chart["height"]) + 1, int(chart["x"]):int(chart["x"] + chart["width"]) + 1] = False
    assert int(((np.abs(image.astype(int) - bar_rgb).sum(axis=2) <= 12) & outside).sum()) == 0


# --- nothing to report --------------------------------------------------------------------------

def test_report_on_an_empty_warehouse_says_to_sync_first(warehouse, tmp_path, monkeypatch, capsys):
    settings, _, _ = warehouse  # schemas, tables and views created, nothing synced
    monkeypatch.setenv("OLIST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OLIST_WAREHOUSE_URL", with_password(settings.warehouse_url.reveal()))
    output = tmp_path / "report.html"

    code = main(["report", "--output", str(output)])

    err = capsys.readouterr().err
    assert code == 1
    assert f"olist-etl report: the warehouse {warehouse_label(settings.warehouse_url)} holds no orders yet" in err
    assert "run `olist-etl sync --mode full` first" in err
    assert PASSWORD not in err and "Traceback" not in err
    assert not output.exists()


def test_report_on_a_database_without_the_views_names_them(postgres_url, olist_home, tmp_path):
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=None).with_warehouse(
        with_password(postgres_url), embedded=False
    )

    with pytest.raises(ReportError) as raised:
        write_report(settings, tmp_path / "report.html")

    message = str(raised.value)
    assert "has no analytics view user_access_layer.monthly_revenue, user_access_layer.revenue_by_state" in message
    assert "user_access_layer.payment_mix: run `olist-etl sync --mode full` first" in message
    assert PASSWORD not in message
    assert not (tmp_path / "report.html").exists()


def test_warehouse_label_never_shows_user_or_password():
    label = warehouse_label(SecretUrl(f"redshift://analyst:{PASSWORD}@cluster.example.eu-west-1.redshift.amazonaws.com:5439/olist"))

    assert label == "olist (redshift on cluster.example.eu-west-1.redshift.amazonaws.com:5439)"
