"""Headless Chromium for the tests that look at pages as a reader does: offline, file:// only.

Chromium must be installed beforehand (CI: `apt-get install -y chromium`); without it the tests
are skipped with the reason (they fail under CI, see tests.support.services.unavailable).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.services import unavailable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Flags that keep Chromium's own background traffic (updates, safe browsing) out of the net log,
# so any http(s) request left in it came from the page.
_QUIET = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--no-default-browser-check", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("headless Chromium is not installed (apt-get install -y chromium)")


def browse(browser: str, page: Path, profile: Path, *, screenshot: Path | None = None, net_log: Path | None = None,
           file_access: bool = False, window: str = "1400,2000") -> str:
    """The DOM after the page's scripts ran (or, with `screenshot`, a PNG of the window)."""
    args = [browser, *_QUIET, f"--user-data-dir={profile}", f"--window-size={window}",
            "--virtual-time-budget=5000"]  # let scripts and onload handlers finish, without a wall-clock wait
    if net_log is not None:
        args.append(f"--log-net-log={net_log}")
    if file_access:
        args.append("--allow-file-access-from-files")  # the harness page reads the framed page's DOM
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    proc = subprocess.run(args + [page.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def visible_text(dom: str) -> str:
    """The DOM's text without scripts, styles and tags, entities decoded, whitespace collapsed."""
    dom = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", dom)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", dom).split()))


def remote_requests(net_log: Path) -> list[str]:
    """The http(s)/ws URLs the page asked for, from Chromium's net log.

    Chromium's own services (time, updates, accounts) make requests whatever the page does; a
    request of the page itself is the one partitioned under the file:// page that made it.
    """
    text = net_log.read_text(encoding="utf-8", errors="replace").rstrip()
    try:
        log = json.loads(text)
    except ValueError:  # Chromium may leave the log unterminated
        log = json.loads(text.rstrip(",") + "]}")
    urls = set()
    for event in log["events"]:
        params = event.get("params") or {}
        url = params.get("url") or ""
        if re.match(r"(https?|wss?)://", url) and str(params.get("network_isolation_key", "")).startswith("file://"):
            urls.add(url)
    return sorted(urls)


# A page that frames another page and reports what the reader sees: computed styles of a few
# elements, elements that markup in data would create, and every resource the page loaded.
_HARNESS = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="page" src="{src}" style="width:1400px;height:1600px"></iframe>
<script>
document.getElementById("page").onload = function () {{
  const w = this.contentWindow, d = this.contentDocument, out = {{}};
  const style = (selector, pseudo) => {{
    const el = d.querySelector(selector);
    if (!el) return null;
    const s = w.getComputedStyle(el, pseudo || null);
    return {{color: s.color, background: s.backgroundColor, content: s.content, display: s.display, font: s.fontFamily}};
  }};
  out.probes = {{}};
  for (const [name, selector, pseudo] of {probes}) out.probes[name] = style(selector, pseudo);
  out.injected = Array.from(d.querySelectorAll("svg, script, iframe, object, embed, [onload], [onerror]")).map(e => e.outerHTML.slice(0, 120));
  out.resources = w.performance.getEntriesByType("resource").map(e => e.name);
  out.stylesheets = Array.from(d.styleSheets).map(s => s.href || "inline");
  out.text = d.body ? d.body.innerText : "";
  out.links = Array.from(d.querySelectorAll("a[href]")).map(a => [a.textContent.trim(), a.href]);
  out.csp = Array.from(d.querySelectorAll('meta[http-equiv="Content-Security-Policy"]')).map(m => m.content);
  document.getElementById("out").textContent = JSON.stringify(out);
}};
</script></body></html>"""


def inspect_page(browser: str, page: Path, workdir: Path, probes: list[tuple[str, str, str | None]]) -> dict:
    """What Chromium shows of `page`: see _HARNESS. `probes` are (name, CSS selector, pseudo-element)."""
    workdir.mkdir(parents=True, exist_ok=True)
    harness = workdir / "harness.html"
    harness.write_text(_HARNESS.format(src=html.escape(page.as_uri()), probes=json.dumps(probes)), encoding="utf-8")
    dom = browse(browser, harness, workdir / "profile", file_access=True)
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "pending", f"the harness did not report on {page}: {dom[:500]}"
    return json.loads(html.unescape(found.group(1)))
