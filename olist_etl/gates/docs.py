"""Data docs: built by GX checkpoints with its own renderers, readable offline, every value escaped.

Each gate validates a table through `run_validation`: a GX Checkpoint whose UpdateDataDocsAction
renders that table's validation page (and its suite's page) with GX's renderers. The site is
settings.home/data_docs; `record_run` ends every run (promoted, blocked or failed): it writes the
run's page and rebuilds the index once, with the run's true outcome and a link to every validation
page its gates wrote.

Offline and safe by construction, through GX's own extension points (view and index builder
classes named in the site config):
- the views put this package's templates (assets/views) before GX's: pages load only files from
  the site (assets/static/offline.css replaces Bootstrap and Font Awesome from CDNs), run no
  scripts, and carry a Content-Security-Policy that forbids any other source;
- the Jinja environment escapes every value; GX's renderers' HTML fragments are marked safe, and
  the plain strings they pass through (unexpected values, table cells) are escaped;
- the index's lists are written as HTML tables (GX builds them with JavaScript from a CDN).

Pages are rendered per validation; the static assets and the index, which reads every listed
result, only by `build_index` (after each gate and at the end of the run), not after every table.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import shutil
import threading
import urllib.parse
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import markupsafe
from great_expectations.render.renderer import ValidationResultsPageRenderer
from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder, SiteBuilder
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView

from olist_etl.gates.results import SAMPLE_SIZE
from olist_etl.settings import Settings

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

    from olist_etl.gates.results import GateFailure

log = logging.getLogger(__name__)

SITE_NAME = "local_site"
# Validations a gate runs at once, one GX context each (GX's objects are not shared across
# threads): every check is a scan in the warehouse, which uses every core this way.
VALIDATION_WORKERS = 4
# The index reads every listed result; bounding it keeps each build fast as runs pile up.
INDEX_VALIDATIONS_LIMIT = 200
INDEX_RUNS = 30
# Every validation runs first with BASIC results and no sample: counts, element counts and
# observed values are exact (the unexpected counts are one bundled aggregate query per table),
# while GX's sample query per map expectation (`LIMIT 0` here) costs nothing. SUMMARY's samples
# cost a full scan per expectation, passing or not: about 40 % of gate 1 at scale 1. Only a
# validation with a failed expectation is run again with samples, so its page and its failures
# show the offending values.
FAST_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
SAMPLE_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
ASSETS = Path(__file__).resolve().parent / "assets"
# No script, no remote source: styles, images and fonts from the site itself. Inline styles stay
# allowed because GX's renderers style elements with style attributes.
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
RUNS_DIR = "olist/runs"  # run records and run pages, inside the site so they publish with it
_PAGES_SUFFIX = ".pages.jsonl"


def docs_dir(settings: Settings) -> Path:
    return settings.home / "data_docs"


def results_dir(settings: Settings) -> Path:
    return settings.home / "gx" / "validations"


# ---------------------------------------------------------------------------------------------
# Views: GX's renderers, this package's templates, autoescaping


def _safe(filter_function):
    """A GX filter that returns HTML it built itself: mark it safe for the autoescaping environment."""

    @functools.wraps(filter_function)  # keeps jinja's pass_context marker
    def wrapper(*args, **kwargs):
        return markupsafe.Markup(filter_function(*args, **kwargs))

    return wrapper


class _OfflineView:
    """Mixin for GX's Jinja views: templates from assets/views first, every value escaped."""

    _HTML_FILTERS = (
        "render_string_template", "render_styling_from_string_template", "render_styling",
        "render_content_block", "render_markdown", "attributes_dict_to_html_string",
        "get_html_escaped_json_string_from_dict",
    )

    # GX builds a new view, hence a new Jinja environment, for every page: each page compiled and
    # stat'ed GX's whole template tree again, three quarters of a validation's cost on a small
    # batch. The configured environment is kept per view class and directories and reused; the
    # views hold no state but it, and Jinja renders from one environment in many threads.
    _ENVIRONMENTS: dict = {}
    _ENVIRONMENTS_LOCK = threading.Lock()

    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        key = (type(self), custom_styles_directory, custom_views_directory)
        with self._ENVIRONMENTS_LOCK:
            cached = self._ENVIRONMENTS.get(key)
        if cached is not None:
            self.custom_styles_directory, self.custom_views_directory, self.env = custom_styles_directory, custom_views_directory, cached
            return
        super().__init__(custom_styles_directory, custom_views_directory)
        self.env.loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(ASSETS / "views")), self.env.loader])
        # GX selects autoescape by file extension (.html/.xml); its templates are .j2, so nothing
        # was escaped and a value such as `<svg/onload=...>` reached the page as markup.
        self.env.autoescape = True
        self.env.auto_reload = False  # the templates ship with the package: no stat per page
        for name in self._HTML_FILTERS:
            self.env.filters[name] = _safe(self.env.filters[name])
        with self._ENVIRONMENTS_LOCK:
            self._ENVIRONMENTS.setdefault(key, self.env)

    @jinja2.pass_context
    def render_content_block(self, jinja_context, content_block, index=None, content_block_id=None, render_to_markdown=False):
        # Plain strings and list items are data (unexpected values, table cells), not markup.
        if isinstance(content_block, str) and not isinstance(content_block, markupsafe.Markup):
            return html.escape(content_block)
        if isinstance(content_block, list):
            content_block = [html.escape(str(item)) if isinstance(item, (str, int, float)) else item for item in content_block]
        return super().render_content_block(jinja_context, content_block, index, content_block_id, render_to_markdown)

    def render_styling(self, styling):
        # GX writes classes, attributes and styles into the tag as they are; a link's href holds
        # the suite name, so each value is escaped for its attribute.
        if not isinstance(styling, dict):
            return super().render_styling(styling)
        escaped = dict(styling)
        if styling.get("classes") is not None and not isinstance(styling["classes"], str):
            escaped["classes"] = [html.escape(str(c)) for c in styling["classes"]]
        for key in ("attributes", "styles"):
            if styling.get(key) is not None:
                escaped[key] = {html.escape(str(k)): html.escape(str(v)) for k, v in styling[key].items()}
        return super().render_styling(escaped)

    def attributes_dict_to_html_string(self, attributes_dict, prefix=""):
        return super().attributes_dict_to_html_string({html.escape(str(k)): html.escape(str(v)) for k, v in attributes_dict.items()}, prefix)

    def render_string_template(self, template):
        # GX escapes the parameters; the template text can carry data too (e.g. a batch id).
        if isinstance(template, dict) and isinstance(template.get("template"), str):
            template = dict(template, template=html.escape(template["template"], quote=False))
        return super().render_string_template(template)

    def render(self, document, template=None, **kwargs):
        return super().render(document, template, site_root=_site_root(document), olist_csp=CSP, **kwargs)


def _site_root(document) -> str:
    """The relative path from a page to the site root (GX's templates compute it the same way)."""
    data = document.to_json_dict() if hasattr(document, "to_json_dict") else dict(document)
    kind = data.get("renderer_type") or ""
    dots = (data.get("expectation_suite_name") or "").count(".")
    if "ValidationResults" in kind or "ProfilingResults" in kind:
        return "../" * (dots + 4)
    if "ExpectationSuite" in kind:
        return "../" * (dots + 1)
    return "./"


class OfflinePageView(_OfflineView, DefaultJinjaPageView):
    """Validation and suite pages."""


class OfflineIndexPageView(_OfflineView, DefaultJinjaIndexPageView):
    """The index: GX's lists plus the runs section (olist_runs.j2)."""

    runs: list[dict] = []

    def render(self, document, template=None, **kwargs):
        return super().render(document, template, olist_runs=self.runs, **kwargs)


class RunNamePageRenderer(ValidationResultsPageRenderer):
    """GX's validation page renderer, titled without reading the run name as a time.

    GX parses the run name with dateutil to decide whether to show it. Some run ids parse as a
    time with an impossible UTC offset ("20261203T052644Z-2395ad": about 1 in 1,400 of them),
    and GX's comparison then raises, the page is not written, and every validation of the run
    fails as a GX error (seen as runs blocked at gate-source-columns at random). Our run names
    are ids, never times: the title always shows it.
    """

    def _determine_page_title(self, run_name: str, run_time: str, data_asset_name: str, expectation_suite_name: str) -> str:
        parts = ["Validations", expectation_suite_name, data_asset_name, run_name, run_time]
        return " / ".join(str(part) for part in parts if part)


class OfflineSiteIndexBuilder(DefaultSiteIndexBuilder):
    """GX's index builder, with the latest runs (olist/runs/*.json) handed to the index view."""

    # GX passes its runtime arguments by the names in this signature, so they are spelled out.
    def __init__(self, name, site_name, data_context, target_store, site_section_builders_config, custom_styles_directory=None,
                 custom_views_directory=None, show_how_to_buttons=True, validation_results_limit=None, renderer=None, view=None,
                 data_context_id=None, source_stores=None, docs_dir: str | None = None, **kwargs) -> None:
        super().__init__(
            name, site_name, data_context, target_store, site_section_builders_config, custom_styles_directory=custom_styles_directory,
            custom_views_directory=custom_views_directory, show_how_to_buttons=show_how_to_buttons,
            validation_results_limit=validation_results_limit, renderer=renderer, view=view, data_context_id=data_context_id,
            source_stores=source_stores, **kwargs,
        )
        self.docs_dir = Path(docs_dir) if docs_dir else None

    def build(self, skip_and_clean_missing=True, build_index: bool = True):
        if self.docs_dir is not None:
            self.view_class.runs = latest_runs(self.docs_dir)
        return super().build(skip_and_clean_missing=skip_and_clean_missing, build_index=build_index)


class OfflineSiteBuilder(SiteBuilder):
    """GX's site builder. With `deferred` (while a run's gates validate) it renders the pages
    only: GX would also copy its static assets and rebuild the index, which reads every listed
    result, after each table; `build_index` does both once per gate or run."""

    def __init__(self, data_context, store_backend, site_name=None, site_index_builder=None, show_how_to_buttons=True,
                 site_section_builders=None, runtime_environment=None, deferred: bool = False, **kwargs) -> None:
        super().__init__(
            data_context, store_backend, site_name=site_name, site_index_builder=site_index_builder,
            show_how_to_buttons=show_how_to_buttons, site_section_builders=site_section_builders,
            runtime_environment=runtime_environment, **kwargs,
        )
        self.deferred = deferred

    def build(self, resource_identifiers=None, build_index: bool = True):
        if not self.deferred:
            return super().build(resource_identifiers=resource_identifiers, build_index=build_index)
        for section in self.site_section_builders.values():
            store = section.source_store
            if resource_identifiers:
                # GX lists the section's whole store for every page and keeps what was asked for:
                # a walk of every result of every earlier run, per validation, growing with use.
                section.source_store = _ListedKeys(store, [k for k in resource_identifiers if isinstance(k, store.key_class)])
            try:
                section.build(resource_identifiers=resource_identifiers)
            finally:
                section.source_store = store
        return self.get_resource_url(only_if_exists=False), None


class _ListedKeys:
    """A store seen through a fixed key list (each site builder has its own sections: no sharing)."""

    def __init__(self, store, keys: list) -> None:
        self._store, self._keys = store, keys

    def list_keys(self) -> list:
        return [key for key in self._keys if self._store.has_key(key)]

    def __getattr__(self, name):
        return getattr(self._store, name)


# ---------------------------------------------------------------------------------------------
# Context and validation


def _site_config(settings: Settings, *, deferred: bool) -> dict:
    view = {"module_name": __name__, "class_name": "OfflinePageView"}
    return {
        "module_name": __name__,
        "class_name": "OfflineSiteBuilder",
        "deferred": deferred,
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir(settings))},
        "site_section_builders": {
            "expectations": {"view": view},
            "validations": {"view": view, "renderer": {"module_name": __name__, "class_name": "RunNamePageRenderer"}},
            "profiling": {"view": view},
        },
        "site_index_builder": {
            "module_name": __name__, "class_name": "OfflineSiteIndexBuilder",
            "docs_dir": str(docs_dir(settings)), "validation_results_limit": INDEX_VALIDATIONS_LIMIT,
            "view": {"module_name": __name__, "class_name": "OfflineIndexPageView"},
        },
    }


_PARSING = threading.Lock()


def _serialize_suite_parameters() -> None:
    """GX parses `$PARAMETER` expressions with one module-level pyparsing parser and stack
    (suite_parameters.EXPR), and pyparsing learns each parse action's arity on first use: gates
    validating tables in parallel threads interleave there (seen as every validation of a run
    raising "push_first() missing 1 required positional argument: 'toks'"). One lock around GX's
    entry point keeps its parsing single-threaded; the validations themselves stay parallel."""
    from great_expectations.core import suite_parameters, validation_definition

    original = suite_parameters.parse_suite_parameter
    if getattr(original, "olist_serialized", False):
        return

    @functools.wraps(original)
    def serialized(*args, **kwargs):
        with _PARSING:
            return original(*args, **kwargs)

    serialized.olist_serialized = True
    suite_parameters.parse_suite_parameter = serialized
    validation_definition.parse_suite_parameter = serialized


def gx_context(settings: Settings, *, deferred: bool = True):
    """An in-memory GX context whose validation results and data docs go to local folders.

    Results and suites persist (settings.home/gx) so the index lists earlier runs too; the
    datasources a gate adds (the only place a connection string lives) stay in memory. With
    `deferred`, the checkpoints render their pages but leave the index to `build_index`.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    from olist_etl.gates.expectations import register as register_expectations

    register_expectations()  # stored results of its type render on the pages this context builds

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        # tqdm bars would flood the Prefect logs with one line per metric batch.
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    config.stores[config.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(results_dir(settings))},
    }
    # Suites persist too: GX's index removes the page of any suite its store does not hold.
    config.stores[config.expectations_store_name] = {
        "class_name": "ExpectationsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(settings.home / "gx" / "expectations")},
    }
    config.data_docs_sites = {SITE_NAME: _site_config(settings, deferred=deferred)}
    with _PARSING:
        _serialize_suite_parameters()
    context = gx.get_context(mode="ephemeral", project_config=config)
    return context


def run_validation(
    context,
    *,
    gate: str,
    table: str,
    run_id: str,
    run_time: datetime,
    batch_definition,
    suite,
    batch_parameters: dict | None = None,
    expectation_parameters: dict | None = None,
) -> "ExpectationSuiteValidationResult":
    """Validate one batch with a GX Checkpoint whose UpdateDataDocsAction renders its page.

    Returns GX's result unchanged: FAST_RESULT_FORMAT's when every expectation passed, else the
    result of a second run with SAMPLE_RESULT_FORMAT (whose page replaces the first one's). The
    page's path is appended to the run's page list (olist/runs/<run_id>.pages.jsonl in the site)
    so the run page and the index link it, whether the validation passed or not. GX exceptions
    propagate: the caller's gate turns them into failures.
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    name = f"{gate}.{table}"
    suite = _add_or_replace(context.suites, suite)
    definition = _add_or_replace(context.validation_definitions, gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))

    def run_checkpoint(result_format: dict):
        checkpoint = _add_or_replace(
            context.checkpoints,
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="data-docs", site_names=[SITE_NAME])],
                result_format=result_format,
            ),
        )
        return checkpoint.run(
            batch_parameters=batch_parameters,
            expectation_parameters=expectation_parameters,
            run_id=RunIdentifier(run_name=run_id, run_time=run_time),
        )

    result = run_checkpoint(FAST_RESULT_FORMAT)
    if not all(validation.success for validation in result.run_results.values()):
        result = run_checkpoint(SAMPLE_RESULT_FORMAT)
    site = Path(context.variables.data_docs_sites[SITE_NAME]["store_backend"]["base_directory"])
    for identifier, validation in result.run_results.items():
        page = _page_path(identifier)
        if not (site / page).is_file():
            # GX logs a page it failed to render and carries on; a missing page must not pass unseen.
            raise RuntimeError(f"{gate}: GX rendered no data docs page for {table} ({page})")
        # Quoted as GX quotes its index links: batch ids may hold spaces, quotes or brackets.
        _append_page(site, run_id, {"gate": gate, "table": table, "suite": validation.suite_name, "success": bool(validation.success), "page": urllib.parse.quote(page)})
    return next(iter(result.run_results.values()))


def _add_or_replace(collection, item):
    """Suites, validation definitions and checkpoints are named per gate and table: a second run
    in the same process (tests) replaces the earlier object instead of failing on the name."""
    try:
        collection.delete(item.name)
    except Exception:  # GX raises different errors for "not found" per collection
        pass
    return collection.add(item)


def _page_path(identifier) -> str:
    """validations/<suite name parts>/<run name>/<run time>/<batch id>.html, relative to the site."""
    parts = ["validations", *identifier.expectation_suite_identifier.name.split("."), *identifier.run_id.to_tuple(), identifier.batch_identifier]
    return "/".join(parts) + ".html"


def _append_page(site: Path, run_id: str, entry: dict) -> None:
    path = site / RUNS_DIR / f"{_safe_name(run_id)}{_PAGES_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write per line in append mode: gates validating tables in parallel do not interleave.
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def _safe_name(run_id: str) -> str:
    """Run ids name files; anything but [A-Za-z0-9._-] is replaced so no id escapes the folder."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in run_id).lstrip(".")
    return cleaned or "_"


# ---------------------------------------------------------------------------------------------
# Runs: the record, the run page and the index


@dataclass
class GatePages:
    name: str
    success: bool
    pages: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


@dataclass
class RunRecord:
    run_id: str
    status: str  # promoted, blocked, failed, cancelled
    mode: str | None = None
    finished_at: str | None = None
    error: str | None = None
    quarantine: str | None = None
    gates: list[GatePages] = field(default_factory=list)

    @property
    def run_page(self) -> str:
        return f"{RUNS_DIR}/{_safe_name(self.run_id)}.html"

    def to_dict(self) -> dict:
        return asdict(self) | {"run_page": self.run_page}


def record_run(
    settings: Settings,
    run_id: str,
    status: str,
    *,
    mode: str | None = None,
    gates: list | None = None,
    error: str | None = None,
    quarantine: str | None = None,
) -> Path:
    """Write the run's record and page, then rebuild the index once; returns the run page.

    `gates` are the gates' results (objects with .name, .success, .failed_expectations); each is
    listed with the validation pages it wrote. Pages of gates not in `gates` (a gate that raised
    before returning) are listed too, under their own gate name.
    """
    site = docs_dir(settings)
    pages = _read_pages(site, run_id)
    listed: list[GatePages] = []
    for gate in gates or []:
        listed.append(GatePages(
            name=gate.name, success=bool(gate.success),
            pages=_latest_pages([p for p in pages if p["gate"] == gate.name]),
            failures=[_failure_row(f) for f in getattr(gate, "failed_expectations", [])],
        ))
    known = {g.name for g in listed}
    for name in dict.fromkeys(p["gate"] for p in pages if p["gate"] not in known):
        own = _latest_pages([p for p in pages if p["gate"] == name])
        listed.append(GatePages(name=name, success=all(p["success"] for p in own), pages=own))
    record = RunRecord(
        run_id=run_id, status=status, mode=mode, error=error, quarantine=quarantine, gates=listed,
        finished_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
    runs = site / RUNS_DIR
    runs.mkdir(parents=True, exist_ok=True)
    _write_atomically(runs / f"{_safe_name(run_id)}.json", json.dumps(record.to_dict(), indent=2, default=str) + "\n")
    page = site / record.run_page
    _write_atomically(page, render_run_page(record.to_dict()))
    build_index(settings)
    return page


def _read_pages(site: Path, run_id: str) -> list[dict]:
    path = site / RUNS_DIR / f"{_safe_name(run_id)}{_PAGES_SUFFIX}"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _latest_pages(pages: list[dict]) -> list[dict]:
    """One page per suite and table, labelled by the suite without its gate kind ("orders",
    "orders.typed"): a validation repeated in a run (a retried task) shows its last page."""
    latest = {(p["suite"], p["table"]): p for p in pages}
    labelled = [p | {"label": p["suite"].split(".", 1)[-1] if "." in p["suite"] else p["table"]} for p in latest.values()]
    return sorted(labelled, key=lambda p: p["label"])  # parallel validations finish in any order


def _failure_row(failure: GateFailure) -> dict:
    column = failure.column
    return {
        "table": failure.table,
        "column": ", ".join(column) if isinstance(column, (list, tuple)) else column,
        "expectation": failure.expectation,
        "severity": failure.severity,
        "unexpected_count": failure.unexpected_count,
        "samples": json.dumps(failure.sample_values or [], default=str, ensure_ascii=False)[:300],
        "error": failure.error,
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(ASSETS / "views")), autoescape=True)


def render_run_page(record: dict) -> str:
    depth = RUNS_DIR.count("/") + 1
    return _environment().get_template("olist_run_page.j2").render(run=record, site_root="../" * depth, olist_csp=CSP)


def latest_runs(site: Path, limit: int = INDEX_RUNS) -> list[dict]:
    """The newest run records (run ids sort by time), for the index."""
    runs = site / RUNS_DIR
    if not runs.is_dir():
        return []
    records = []
    for path in sorted(runs.glob("*.json"), reverse=True)[:limit]:
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            log.warning("skipping unreadable run record %s", path)
    return records


def build_index(settings: Settings) -> Path:
    """Rebuild the site's index (GX's lists plus the runs) and copy the static assets."""
    site = docs_dir(settings)
    context = gx_context(settings, deferred=False)
    config = _site_config(settings, deferred=False)
    builder = OfflineSiteBuilder(
        data_context=context, store_backend=config["store_backend"], site_name=SITE_NAME,
        site_index_builder=config["site_index_builder"], site_section_builders=config["site_section_builders"],
        show_how_to_buttons=False,
    )
    builder.target_store.copy_static_assets()
    target = site / "static" / "olist"
    target.mkdir(parents=True, exist_ok=True)
    for asset in (ASSETS / "static").iterdir():
        shutil.copyfile(asset, target / asset.name)
    builder.site_index_builder.build()
    index = site / "index.html"
    if not index.is_file():
        raise RuntimeError(f"GX wrote no data docs index at {index}")
    return index


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
