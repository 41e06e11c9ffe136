"""A data docs site built the way the gates build it (GX checkpoints through olist_etl.gates.docs),
on in-memory batches so no database is needed, with markup planted in data and in names.

Three runs: one blocked (a critical expectation failed), one promoted, one that failed on an
error after its gate passed (as a run that loses S3 mid-way does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

from olist_etl.gates.results import GateFailure
from tests.support.services import make_settings

GATE = "gate-delta-tables"
# Markup an attacker could place in source rows (an order status, a column name, a table name):
# every page must show it as text.
SVG = "<svg/onload=alert(1)>"
BREAKOUT = '"><script>alert(2)</script>'
IMG = "<img src=x onerror=alert(3)>"
# GX's result store refuses "/" in a key part, so the hostile table name has none.
HOSTILE_TABLE = 'x"><svg onload=alert(4)>'
ERROR = f"S3 PutObject failed: {IMG}"


@dataclass
class Gate:
    """What record_run reads from a gate result."""

    name: str
    success: bool = True
    failed_expectations: list[GateFailure] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    data_docs: str | None = None


@dataclass
class Site:
    settings: object
    root: Path
    blocked: str
    promoted: str
    failed: str
    gates: dict = field(default_factory=dict)  # run id -> the Gate recorded for it


def _suite(name: str, column: str):
    import great_expectations as gx

    return gx.ExpectationSuite(name=name, expectations=[
        gx.expectations.ExpectColumnValuesToBeInSet(column="order_status", value_set=["delivered", "shipped"], meta={"severity": "critical"}),
        gx.expectations.ExpectColumnValuesToNotBeNull(column=column, meta={"severity": "critical"}),
        gx.expectations.ExpectColumnValuesToBeBetween(column="price", min_value=0, meta={"severity": "critical"}),
    ])


def _frame(bad: bool):
    import pandas as pd

    statuses = ["delivered"] * 20 + ([SVG, BREAKOUT] if bad else ["shipped", "shipped"])
    return pd.DataFrame({
        "order_status": statuses,
        BREAKOUT: list(range(len(statuses))),
        "price": [10.0] * (len(statuses) - 1) + ([-4.0] if bad else [4.0]),
    })


def build_site(home: Path, staging_url: str | None = None) -> Site:
    from olist_etl.gates import docs

    settings = make_settings(home, source_url="sqlite://", warehouse_url=None, staging_url=staging_url)
    context = docs.gx_context(settings)
    datasource = context.data_sources.add_pandas("frames")
    start = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)
    runs = {"blocked": "20261130T080000Z-aaaaaa", "promoted": "20261130T090000Z-bbbbbb", "failed": "20261130T100000Z-cccccc"}
    gates = {}
    for hour, (outcome, run_id) in enumerate(runs.items()):
        gate = gates[run_id] = Gate(GATE, data_docs=str(docs.docs_dir(settings)))
        for table in ("orders", HOSTILE_TABLE):
            bad = outcome == "blocked" and table == "orders"
            asset = datasource.add_dataframe_asset(f"{table}-{outcome}")
            result = docs.run_validation(
                context, gate=GATE, table=table, run_id=run_id, run_time=start + timedelta(hours=hour),
                batch_definition=asset.add_batch_definition_whole_dataframe("whole"),
                suite=_suite(f"delta.{table}", BREAKOUT),  # the hostile name reaches page titles and paths too
                batch_parameters={"dataframe": _frame(bad)},
            )
            if not result.success:
                gate.success = False
                gate.failed_expectations.append(GateFailure(
                    table=table, expectation="expect_column_values_to_be_in_set", column="order_status",
                    severity="critical", unexpected_count=2, sample_values=[SVG, BREAKOUT], description="",
                ))
        if outcome == "failed":
            docs.record_run(settings, run_id, "failed", mode="incremental", gates=[gate], error=ERROR)
        else:
            docs.record_run(settings, run_id, outcome, mode="full", gates=[gate], quarantine=None)
    return Site(settings=settings, root=docs.docs_dir(settings), gates=gates, **runs)


# ---------------------------------------------------------------------------------------------
# Reading a page as a browser would build it

ACTIVE_TAGS = {"script", "svg", "iframe", "object", "embed", "img"}
LOADING = {("link", "href"), ("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src")}


class PageScan(HTMLParser):
    """What a browser would create from a page: elements, event handlers, loaded URLs and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    @property
    def plain(self) -> str:
        return " ".join(" ".join(self.text).split())


def scan(path: Path) -> PageScan:
    page = PageScan()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def problems(page: PageScan) -> list[str]:
    """Everything on the page that markup in data could have produced, or that reaches outside."""
    found = []
    for tag, attrs in page.tags:
        if tag in ACTIVE_TAGS and not (tag == "img" and attrs.get("src", "").endswith("static/images/logo-long.png")):
            found.append(f"<{tag}> element")
        found += [f"{name}= handler on <{tag}>" for name in attrs if name.startswith("on")]
        for loader, attribute in LOADING:
            url = attrs.get(attribute) or ""
            if tag == loader and "://" in url:
                found.append(f"<{tag} {attribute}={url}> loads from outside the site")
    heads = [tag for tag, _ in page.tags if tag in ("meta", "link", "style", "script")]
    policies = [attrs.get("content", "") for tag, attrs in page.tags if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "content-security-policy"]
    if not policies:
        found.append("no Content-Security-Policy")
    elif "link" in heads and heads.index("link") < [i for i, (t, a) in enumerate(page.tags) if t == "meta" and a.get("http-equiv")][0]:
        found.append("a stylesheet comes before the Content-Security-Policy")
    elif "script-src 'none'" not in policies[0] or "default-src 'none'" not in policies[0]:
        found.append(f"a weak policy: {policies[0]}")
    return found
