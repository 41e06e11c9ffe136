"""Gate 2: validate this run's delta tables (staging_layer.*) with Great Expectations before promotion.

The suites are versioned JSON files, expectations/delta/<table>.json, in GX 1.x suite shape; every
expectation carries meta.severity: `critical` blocks promotion, `warning` is only reported.

Every check runs as SQL in the warehouse (GX's SQL execution engine and UnexpectedRowsExpectation
queries); only counts and a few sample values come back, so memory does not grow with the delta.

Reconciliation: each suite's expect_table_row_count_to_equal takes the suite parameter
`manifest_rows`, the table's row count in the run's manifest as the staging area holds it (gate 1
rewrites it when it drops allowed malformed rows), so rows loaded must equal rows extracted.

GX runs in an ephemeral context built per gate call: the connection string (with its password)
lives only in memory. What reaches disk is the validation results store (settings.home/gx), the
data docs site (settings.home/data_docs) and this gate's result JSON (settings.home/gate_results);
none of them contains the URL.

Any GX exception, or an expectation result whose exception_info says it raised, is a failure of
type `gx_error`, whatever the expectation's severity: a gate that could not look never passes.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable


from olist_etl.db import normalize_url, warehouse_connect_args
from olist_etl.resources import resource_dir
from olist_etl.settings import Settings
from olist_etl.tables import get_table, quote_ident

if TYPE_CHECKING:
    import great_expectations as gx

log = logging.getLogger(__name__)

GATE_NAME = "gate-delta-tables"
STAGING_SCHEMA = "staging_layer"
SEVERITIES = ("critical", "warning")
GX_ERROR = "gx_error"
SAMPLE_SIZE = 5
ROW_COUNT_CHECK = "expect_table_row_count_to_equal"
# The data docs index reads every listed result; bounding it keeps each build fast as runs pile up.
DATA_DOCS_INDEX_LIMIT = 200
DATA_DOCS_SITE = "local_site"
_DATASOURCE_NAME = "warehouse"


# ---------------------------------------------------------------------------------------------
# Suites: versioned JSON files <-> GX ExpectationSuite objects


def delta_suite_dir() -> Path:
    return resource_dir("expectations") / "delta"


def delta_suite_path(table: str) -> Path:
    get_table(table)  # only catalog tables have suites
    return delta_suite_dir() / f"{table}.json"


def suite_from_dict(document: dict) -> "gx.ExpectationSuite":
    """Build a GX suite from the JSON shape; reject expectations without a valid meta.severity.

    meta.severity is the project's contract; it is also copied into GX's own `severity` field so
    data docs and GX tooling show the same level.
    """
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    name = document["name"]
    expectations = []
    for index, entry in enumerate(document["expectations"]):
        meta = dict(entry.get("meta") or {})
        severity = meta.get("severity")
        if severity not in SEVERITIES:
            raise ValueError(f"suite {name}: expectation #{index} ({entry.get('type')}) needs meta.severity in {SEVERITIES}, got {severity!r}")
        configuration = ExpectationConfiguration(
            type=entry["type"],
            kwargs=dict(entry["kwargs"]),
            meta=meta,
            severity=severity,
            # Data docs never show the expectation type, and validation pages do not show notes;
            # a GX description replaces the rendered sentence, so the page a reader opens from
            # the index names the type, the severity and the reason.
            description=f"{entry['type']} ({severity}): {meta.get('description', '')}",
        )
        expectations.append(configuration.to_domain_obj())
    return gx.ExpectationSuite(name=name, expectations=expectations, meta=dict(document.get("meta") or {}))


def suite_to_dict(suite: "gx.ExpectationSuite") -> dict:
    """The JSON file shape of a suite (GX ids and defaults left out), so files round-trip."""
    expectations = []
    for expectation in suite.expectations:
        configuration = expectation.configuration
        expectations.append({"type": configuration.type, "kwargs": _plain(configuration.kwargs), "meta": _plain(configuration.meta)})
    meta = {k: v for k, v in _plain(suite.meta).items() if k != "great_expectations_version"}
    return {"name": suite.name, "meta": meta, "expectations": expectations}


def load_delta_suite(table: str) -> "gx.ExpectationSuite":
    path = delta_suite_path(table)
    return suite_from_dict(json.loads(path.read_text(encoding="utf-8")))


def _plain(value: Any) -> Any:
    """JSON-native copy (GX hands back its own dict/list subclasses)."""
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------------------------
# Result


@dataclass
class GateResult:
    name: str
    success: bool
    failed_expectations: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def critical_failures(self) -> list[dict]:
        return [f for f in self.failed_expectations if f["severity"] == "critical"]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


class GateFailed(Exception):
    """A gate blocked promotion; `.result` holds every failure, critical and warning."""

    def __init__(self, result: GateResult):
        self.result = result
        lines = [f"{result.name} failed: {len(result.critical_failures)} critical failure(s)"]
        for failure in result.critical_failures:
            lines.append("  - " + describe_failure(failure))
        if result.data_docs:
            lines.append(f"data docs: {result.data_docs}")
        super().__init__("\n".join(lines))


def describe_failure(failure: dict) -> str:
    column = failure.get("column")
    where = failure["table"] if not column else f"{failure['table']}.{column if isinstance(column, str) else '(' + ', '.join(column) + ')'}"
    text = f"{where}: {failure['expectation']}"
    if failure.get("unexpected_count") is not None:
        text += f", {failure['unexpected_count']} unexpected"
    if failure.get("sample_values"):
        text += f", e.g. {json.dumps(failure['sample_values'], default=str)}"
    if failure.get("error"):
        text += f": {failure['error']}"
    return text


# ---------------------------------------------------------------------------------------------
# The gate


def run_delta_gate(
    settings: Settings,
    run_id: str,
    tables: Iterable[str],
    *,
    suites: dict[str, "gx.ExpectationSuite"] | None = None,
) -> GateResult:
    """The gate's work, callable without Prefect. `suites` replaces the versioned suite of a table."""
    tables = list(tables)
    for table in tables:
        get_table(table)  # an unknown name is a caller bug, not a data failure
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    manifest_rows = _manifest_rows(settings, run_id, tables)

    started = datetime.now(timezone.utc)
    results: list[dict] = []
    failures: list[dict] = []
    docs_dir = settings.home / "data_docs"
    data_docs: str | None = None

    from great_expectations.core.run_identifier import RunIdentifier

    gx_run_id = RunIdentifier(run_name=run_id, run_time=started)
    datasource = None
    try:
        context = _ephemeral_context(settings.home / "gx" / "validations", docs_dir)
        with warnings.catch_warnings():
            # add_sql, not add_postgres: the latter rejects the embedded server's Unix-socket URL,
            # and one generic datasource serves Redshift too. GX warns about that choice.
            warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
            datasource = context.data_sources.add_sql(
                name=_DATASOURCE_NAME,
                connection_string=normalize_url(settings.warehouse_url.reveal()).render_as_string(hide_password=False),
                kwargs={"connect_args": warehouse_connect_args(settings.warehouse_url.reveal())},
            )
    except Exception as err:
        for table in tables:
            failures.append(_gx_error(table, err, settings))
            results.append({"table": table, "success": False, "error": failures[-1]["error"]})

    if datasource is not None:
        rendered: list = []
        for table in tables:
            parameters = {"manifest_rows": manifest_rows[table]}
            table_result, table_failures, identifiers = _validate_table(context, datasource, table, run_id, gx_run_id, suites, settings, parameters)
            results.append(table_result)
            failures.extend(table_failures)
            rendered.extend(identifiers)
        try:
            # Only this run's pages are rendered (earlier ones are already on disk); without
            # identifiers GX re-renders every stored result on every build.
            context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=rendered or None)
            data_docs = str(docs_dir)
        except Exception as err:
            failures.append(_gx_error(None, err, settings, what="building data docs"))
        finally:
            datasource.get_engine().dispose()

    success = not any(f["severity"] == "critical" for f in failures)
    result = GateResult(name=GATE_NAME, success=success, failed_expectations=failures, results=results, data_docs=data_docs)
    write_gate_result(settings, run_id, result)
    seconds = (datetime.now(timezone.utc) - started).total_seconds()
    logger = run_logger()
    for failure in failures:
        (logger.error if failure["severity"] == "critical" else logger.warning)("%s: %s", GATE_NAME, describe_failure(failure))
    logger.info("%s over %d table(s): %s in %.1f s", GATE_NAME, len(tables), "passed" if success else "FAILED", seconds)
    if not success:
        raise GateFailed(result)
    return result


def _manifest_rows(settings: Settings, run_id: str, tables: list[str]) -> dict[str, int]:
    """Each table's row count in the run's manifest, read from the staging area (what was extracted).

    Without it the reconciliation cannot run, and a gate that cannot check must not pass: the run
    fails (exit 1) instead of being promoted.
    """
    from olist_etl.staging import open_staging, read_json
    from olist_etl.stage import manifest_key

    area = open_staging(settings.staging_url)
    key = manifest_key(run_id)
    if not area.exists(key):
        raise FileNotFoundError(f"run {run_id}: no manifest at {area.uri(key)}; rows loaded cannot be reconciled with rows extracted")
    manifest = read_json(area, key)
    missing = [t for t in tables if t not in manifest.get("tables", {})]
    if missing:
        raise ValueError(f"run {run_id}: the manifest at {area.uri(key)} has no entry for {', '.join(missing)}; rows loaded cannot be reconciled")
    return {t: int(manifest["tables"][t]["rows"]) for t in tables}


def run_logger():
    """The Prefect run logger inside a flow or task run (so the UI shows failures), else this module's."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return log


def _ephemeral_context(results_dir: Path, docs_dir: Path):
    """An in-memory GX context whose validation results and data docs go to local folders.

    Results persist so the data docs index lists earlier runs too; the datasource (the only place
    the connection string lives) stays in memory.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        # tqdm bars would flood the Prefect logs with one line per metric batch.
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    config.stores[config.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(results_dir)},
    }
    config.data_docs_sites = {
        DATA_DOCS_SITE: {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": DATA_DOCS_INDEX_LIMIT},
        }
    }
    return gx.get_context(mode="ephemeral", project_config=config)


def _validate_table(context, datasource, table: str, run_id: str, gx_run_id, suites, settings: Settings, parameters: dict) -> tuple[dict, list[dict], list]:
    """Validate one delta table; any GX exception becomes a gx_error failure for that table.

    Returns the table's summary, its failures and the GX identifiers of what data docs should render.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    try:
        suite = suites[table] if suites and table in suites else load_delta_suite(table)
        expected_results = len(suite.expectations)
        suite = context.suites.add(suite)
        asset = datasource.add_table_asset(name=table, table_name=table, schema_name=STAGING_SCHEMA)
        batch_definition = asset.add_batch_definition_whole_table("whole-table")
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=f"{run_id}-{table}", data=batch_definition, suite=suite))
        validation = definition.run(
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
            run_id=gx_run_id,
            expectation_parameters=parameters,
        )
    except Exception as err:
        failure = _gx_error(table, err, settings)
        return {"table": table, "success": False, "error": failure["error"]}, [failure], []

    suite_identifier = ExpectationSuiteIdentifier(name=suite.name)
    identifiers = [
        suite_identifier,
        ValidationResultIdentifier(expectation_suite_identifier=suite_identifier, run_id=gx_run_id, batch_identifier=validation.batch_id),
    ]

    failures: list[dict] = []
    if len(validation.results) != expected_results:
        # A check GX silently skipped is a check that did not pass.
        failures.append(_gx_error(table, f"GX returned {len(validation.results)} results for {expected_results} expectations", settings))
    expectations: list[dict] = []
    # GX does not return results in suite order, so each result is read from its own configuration.
    for item in validation.results:
        configuration = item.expectation_config
        meta = dict(configuration.meta or {})
        severity = meta.get("severity", "critical")
        raised = _raised_exception(item.exception_info)
        summary = {
            "expectation": configuration.type,
            "column": _columns_of(configuration.type, configuration.kwargs, meta),
            "severity": severity,
            "success": bool(item.success) and raised is None,
            "unexpected_count": _unexpected_count(configuration, item.result),
        }
        expectations.append(summary)
        if raised is not None:
            failure = _gx_error(table, raised, settings, what=configuration.type)
            failure["column"] = summary["column"]
            failures.append(failure)
        elif not item.success:
            failures.append(
                {
                    "table": table,
                    "expectation": configuration.type,
                    "column": summary["column"],
                    "severity": severity,
                    "unexpected_count": summary["unexpected_count"],
                    "sample_values": _sample_values(configuration, item.result, datasource, table),
                    "description": meta.get("description", ""),
                }
            )
    table_success = not any(f["severity"] == "critical" for f in failures)
    return {"table": table, "suite": suite.name, "success": table_success, "expectations": expectations}, failures, identifiers


def _raised_exception(exception_info: Any) -> str | None:
    """The error message when GX caught an exception for this expectation, else None.

    exception_info is either one {raised_exception, exception_message, ...} dict or, when a
    metric failed, a dict of such dicts keyed by metric id.
    """
    if not exception_info:
        return None
    candidates = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    for info in candidates:
        if isinstance(info, dict) and info.get("raised_exception"):
            return str(info.get("exception_message") or "GX raised without a message")
    return None


def _columns_of(expectation_type: str, kwargs: dict, meta: dict) -> str | list[str] | None:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_list" in kwargs:
        return list(kwargs["column_list"])
    # SQL checks name the column they are about in meta.
    return meta.get("column")


def _unexpected_count(configuration, result: dict) -> int | None:
    if not result:
        return None
    if configuration.type == ROW_COUNT_CHECK:
        observed, expected = result.get("observed_value"), configuration.kwargs.get("value")
        return abs(observed - expected) if isinstance(observed, int) and isinstance(expected, int) else None
    if "unexpected_count" in result:
        return result["unexpected_count"]
    observed = result.get("observed_value")  # UnexpectedRowsExpectation: the offending row count
    return observed if isinstance(observed, int) else None


def _sample_values(configuration, result: dict, datasource, table: str) -> list:
    """A few offending values: GX's partial list, or for SQL checks the first rows of the query.

    UnexpectedRowsExpectation returns rows only in COMPLETE format, which would also make every
    column check fetch all its unexpected values; re-running its query with a LIMIT stays bounded.
    """
    if result and result.get("partial_unexpected_list") is not None:
        return [_json_value(v) for v in result["partial_unexpected_list"][:SAMPLE_SIZE]]
    if configuration.type == ROW_COUNT_CHECK:
        # The same shape gate 1 reports for its parts, so a reader compares like with like.
        return [{"rows_loaded": (result or {}).get("observed_value"), "manifest_rows": configuration.kwargs.get("value")}]
    query = configuration.kwargs.get("unexpected_rows_query")
    if not query:
        return []
    import sqlalchemy as sa

    batch = f"(select * from {quote_ident(STAGING_SCHEMA)}.{quote_ident(table)}) as subselect"
    try:
        statement = sa.text(f"select * from ({query.format(batch=batch)}) as unexpected limit {SAMPLE_SIZE}")
        with datasource.get_engine().connect() as conn:
            return [_json_value(dict(row._mapping)) for row in conn.execute(statement)]
    except Exception as err:  # the expectation already failed; a missing sample changes nothing
        log.warning("could not sample %s rows for %s: %s", table, configuration.type, err.__class__.__name__)
        return []


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, str):
        return value.rstrip()  # char(32) ids come back space-padded
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _gx_error(table: str | None, err: BaseException | str, settings: Settings, what: str = "validating") -> dict:
    message = err if isinstance(err, str) else f"{err.__class__.__name__}: {err}"
    message = _scrub(" ".join(str(message).split())[:800], settings)
    return {
        "table": table,
        "expectation": GX_ERROR,
        "column": None,
        "severity": "critical",
        "unexpected_count": None,
        "sample_values": [],
        "description": f"Great Expectations raised while {what}; a gate that could not check must not pass.",
        "error": message,
    }


def _scrub(text: str, settings: Settings) -> str:
    """Drive errors can quote the URL; replace the raw URL and its password with the masked form."""
    if settings.warehouse_url is None:
        return text
    raw = settings.warehouse_url.reveal()
    text = text.replace(raw, settings.warehouse_url.masked)
    password = normalize_url(raw).password
    if password:
        text = text.replace(password, "***")
    return text


def write_gate_result(settings: Settings, run_id: str, result: GateResult) -> Path:
    """settings.home/gate_results/<run_id>/<gate name>.json, replaced atomically."""
    path = settings.home / "gate_results" / run_id / f"{result.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(result.to_json() + "\n", encoding="utf-8")
    temporary.replace(path)
    write_gate_index(settings)
    return path


# GX's index builds its table with JavaScript and stylesheets from public CDNs: without network
# (most warehouses' VPCs, CI) an analyst sees an empty page. This static section needs neither.
_INDEX_START, _INDEX_END = "<!-- olist-gates:start -->", "<!-- olist-gates:end -->"
INDEX_RUNS = 20


def write_gate_index(settings: Settings) -> Path | None:
    """Put a plain-HTML table of the latest runs' gate results at the top of the data docs index."""
    import html

    docs_dir = settings.home / "data_docs"
    index = docs_dir / "index.html"
    results_dir = settings.home / "gate_results"
    if not index.is_file() or not results_dir.is_dir():
        return None
    runs = sorted((p for p in results_dir.iterdir() if p.is_dir()), reverse=True)[:INDEX_RUNS]
    pages = _run_pages(docs_dir, [run.name for run in runs])
    rows = []
    for run in runs:
        for path in sorted(run.glob("*.json")):
            try:
                gate = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            for failure in gate.get("failed_expectations", []):
                rows.append((run.name, gate["name"], failure, _page_for(pages, run.name, gate["name"], failure.get("table"))))
            if not gate.get("failed_expectations"):
                checked = sum(len(t.get("expectations", [])) for t in gate.get("results", []))
                rows.append((run.name, gate["name"], {"table": "all tables", "expectation": f"all {checked} expectations", "severity": "", "passed": True}, None))
    cells = []
    for run_id, gate_name, failure, page in rows:
        column = failure.get("column")
        column = ", ".join(column) if isinstance(column, list) else (column or "")
        result = "passed" if failure.get("passed") else ("FAILED" if failure.get("severity") == "critical" else "warning")
        expectation = html.escape(str(failure.get("expectation")))
        if page:
            expectation = f'<a href="{html.escape(page)}">{expectation}</a>'
        samples = json.dumps(failure.get("sample_values") or [], default=str, ensure_ascii=False)[:300] if not failure.get("passed") else ""
        values = [run_id, gate_name, failure.get("table") or "", None, column, failure.get("severity") or "", result,
                  "" if failure.get("unexpected_count") is None else failure["unexpected_count"], samples]
        tds = "".join(f"<td>{expectation if v is None else html.escape(str(v))}</td>" for v in values)
        cells.append(f'<tr class="olist-{result.lower()}">{tds}</tr>')
    section = (
        f'{_INDEX_START}<section id="olist-gates" style="font-family:sans-serif;margin:1em">'
        f"<h2>Quality gates of the latest {len(runs)} run(s)</h2>"
        "<p>FAILED = a critical expectation failed and the run promoted nothing; warning = reported only. "
        "The expectation links to its validation page.</p>"
        '<table border="1" cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>run</th><th>gate</th><th>table</th><th>expectation</th><th>column</th><th>severity</th>"
        "<th>result</th><th>unexpected</th><th>sample values</th></tr>"
        + "".join(cells)
        + f"</table></section>{_INDEX_END}"
    )
    text = index.read_text(encoding="utf-8")
    if _INDEX_START in text:
        text = text[: text.index(_INDEX_START)] + text[text.index(_INDEX_END) + len(_INDEX_END) :]
    body = text.find("<body>")
    text = text[: body + 6] + section + text[body + 6 :] if body >= 0 else section + text
    temporary = index.with_suffix(".html.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(index)
    return index


def _run_pages(docs_dir: Path, run_ids: list[str]) -> list[str]:
    """The validation pages of the listed runs, relative to the site.

    GX puts a page at validations/<kind>/<table>/<run>/<time>/<batch>.html (every suite is named
    <kind>.<table>). Looking up only the listed runs' folders keeps each index write independent
    of how many runs the site has accumulated; a recursive scan grew with every run.
    """
    validations = docs_dir / "validations"
    if not validations.is_dir():
        return []
    suites = [suite for kind in validations.iterdir() if kind.is_dir() for suite in kind.iterdir() if suite.is_dir()]
    pages = []
    for suite in suites:
        for run_id in run_ids:
            pages.extend(p.relative_to(docs_dir).as_posix() for p in sorted((suite / run_id).glob("*/*.html")))
    return pages


def _page_for(pages: list[str], run_id: str, gate_name: str, table: str | None) -> str | None:
    """This run's validation page of a table, preferring the page the same gate rendered."""
    if not table:
        return None
    candidates = [p for p in pages if f"/{run_id}/" in p and (f"/{table}/" in p or p.endswith(f"-{table}.html"))]
    own = [p for p in candidates if p.rsplit("/", 1)[-1].startswith(gate_name)]
    if own:
        return own[0]
    if gate_name == GATE_NAME:
        delta = [p for p in candidates if p.startswith("validations/delta/")]
        return delta[0] if delta else None
    return None


# ---------------------------------------------------------------------------------------------
# Post-merge suite: runs inside promote's transaction


POST_MERGE_GATE = "gate-post-merge"
_TARGET_SCHEMA = "user_access_layer"


def post_merge_suite_path() -> Path:
    return resource_dir("expectations") / "post_merge" / "star_schema.json"


def check_star_schema(conn, settings: Settings, run_id: str, document: dict | None = None) -> GateResult:
    """Run the post-merge suite on promote's own connection, before COMMIT.

    GX cannot join a caller's open transaction (it opens its own connections, which would not see
    the uncommitted merge), so the suite's UnexpectedRowsExpectation queries run here as plain SQL
    on `conn`: count, then a few sample rows. Raising GateFailed inside `engine.begin()` rolls the
    merge, the watermarks and the run record back together.
    """
    import sqlalchemy as sa

    if document is None:
        document = json.loads(post_merge_suite_path().read_text(encoding="utf-8"))
    suite_from_dict(document)  # the same severity contract as the other suites
    failures: list[dict] = []
    expectations: list[dict] = []
    for entry in document["expectations"]:
        meta = entry["meta"]
        table = meta["table"]
        query = entry["kwargs"]["unexpected_rows_query"].format(batch=f"{quote_ident(_TARGET_SCHEMA)}.{quote_ident(table)}")
        count = conn.execute(sa.text(f"select count(*) from ({query}) as unexpected")).scalar_one()
        expectations.append({"expectation": entry["type"], "column": meta.get("column"), "severity": meta["severity"], "success": count == 0,
                             "unexpected_count": count, "kwargs": entry["kwargs"], "description": meta.get("description", ""), "sample_values": []})
        if count:
            rows = conn.execute(sa.text(f"select * from ({query}) as unexpected limit {SAMPLE_SIZE}"))
            failures.append(
                {
                    "table": table,
                    "expectation": entry["type"],
                    "column": meta.get("column"),
                    "severity": meta["severity"],
                    "unexpected_count": count,
                    "sample_values": [_json_value(dict(row._mapping)) for row in rows],
                    "description": meta.get("description", ""),
                }
            )
            expectations[-1]["sample_values"] = failures[-1]["sample_values"]
    success = not any(f["severity"] == "critical" for f in failures)
    result = GateResult(name=POST_MERGE_GATE, success=success, failed_expectations=failures, results=[{"table": "user_access_layer", "suite": document["name"], "success": success, "expectations": expectations}])
    result.data_docs = render_to_data_docs(settings, run_id, result)
    success = result.success
    write_gate_result(settings, run_id, result)
    for failure in failures:
        (run_logger().error if failure["severity"] == "critical" else run_logger().warning)("%s: %s", POST_MERGE_GATE, describe_failure(failure))
    if not success:
        raise GateFailed(result)
    return result


# ---------------------------------------------------------------------------------------------
# Data docs for results computed outside GX (gate 1, the source columns, the post-merge suite)


def render_to_data_docs(settings: Settings, run_id: str, result: GateResult, started: datetime | None = None) -> str | None:
    """Store a gate's results as GX validation results and render this run's pages into the site.

    Gate 1 evaluates its suites while streaming, outside GX; storing its results in GX's own
    shape puts every gate of every run, passed or failed, in the same data docs index. Returns
    the site folder, or None (with the failure added to `result`) when GX could not render.
    """
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    docs_dir = settings.home / "data_docs"
    gx_run_id = RunIdentifier(run_name=run_id, run_time=started or datetime.now(timezone.utc))
    try:
        context = _ephemeral_context(settings.home / "gx" / "validations", docs_dir)
        identifiers: list = []
        for table in result.results:
            if "expectations" not in table:
                continue
            evaluated = []
            # Gate 1 knows the rows it read; GX's page states "N unexpected values found, P% of T
            # total rows" only with all three (and logs a render error without them).
            element_count = table["rows"] + table.get("rejected_rows", 0) if table.get("rows") is not None else None
            for item in table["expectations"]:
                kwargs = _plain(item.get("kwargs") or {})
                meta = {"severity": item["severity"], "description": item.get("description", "")}
                configuration = ExpectationConfiguration(
                    type=item["expectation"], kwargs=kwargs, meta=meta, severity=item["severity"],
                    description=f"{item['expectation']} ({item['severity']}): {meta['description']}",
                )
                evaluated.append(
                    ExpectationValidationResult(
                        success=item["success"],
                        expectation_config=configuration,
                        result={
                            "partial_unexpected_list": _plain(item.get("sample_values") or []),
                            # GX's page renderer reads the header check's observed value as a list.
                            "observed_value": item.get("observed_value") if item.get("observed_value") is not None or item["expectation"] != "expect_table_columns_to_match_ordered_list" else [],
                        } | _unexpected_statement(item.get("unexpected_count") or 0, element_count),
                    )
                )
            suite_identifier = ExpectationSuiteIdentifier(name=table["suite"])
            identifier = ValidationResultIdentifier(expectation_suite_identifier=suite_identifier, run_id=gx_run_id, batch_identifier=f"{result.name}-{table['table']}")
            passed = sum(1 for e in evaluated if e.success)
            context.validation_results_store.set(
                identifier,
                ExpectationSuiteValidationResult(
                    success=table["success"],
                    results=evaluated,
                    suite_name=table["suite"],
                    statistics={"evaluated_expectations": len(evaluated), "successful_expectations": passed,
                                "unsuccessful_expectations": len(evaluated) - passed,
                                "success_percent": 100.0 * passed / len(evaluated) if evaluated else 100.0},
                    meta={"run_id": gx_run_id, "validation_time": gx_run_id.run_time, "gate": result.name,
                          "active_batch_definition": {"datasource_name": result.name, "data_asset_name": table["table"], "batch_definition_name": "staged" if result.name != POST_MERGE_GATE else "star_schema"}},
                    batch_id=f"{result.name}-{table['table']}",
                ),
            )
            identifiers.append(identifier)
        if identifiers:
            context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=identifiers)
            # GX logs a page it failed to render and carries on; a missing page is a failure here.
            missing = [i.batch_identifier for i in identifiers if not (docs_dir / "validations" / Path(*i.to_tuple()[:-1]) / f"{i.to_tuple()[-1]}.html").is_file()]
            if missing:
                raise RuntimeError(f"GX rendered no data docs page for {', '.join(missing)}")
        return str(docs_dir)
    except Exception as err:
        result.failed_expectations.append(_gx_error(None, err, settings, what=f"rendering {result.name} into data docs"))
        result.success = False
        return None


def _unexpected_statement(unexpected: int, element_count: int | None) -> dict:
    """The result keys GX's page needs to state the unexpected count; none when the total is unknown.

    The source-columns and post-merge checks do not count their tables' rows: their pages show the
    sample values, and the count stays in the gate table and result JSON.
    """
    if element_count is None:
        return {}
    return {
        "element_count": element_count,
        "unexpected_count": unexpected,
        "unexpected_percent": 100.0 * unexpected / element_count if element_count else 0.0,
    }
