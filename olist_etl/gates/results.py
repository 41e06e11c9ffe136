"""What every gate returns, how a GX validation result becomes it, and the one way a gate ends.

A failure is a GateFailure (table, expectation, column, severity, unexpected_count,
sample_values, description, and `error` for a gx_error or `rejects` for malformed rows). Its
`to_dict()` is the JSON shape written into the gate result file, the run summary (and so
etl_control.runs and the Prefect artifacts): `error` and `rejects` appear only when set.
Readers of that stored JSON keep reading dicts; `GateFailure.from_dict` rebuilds one.

Any GX exception, or an expectation result whose exception_info says it raised, is a failure of
type `gx_error`, whatever the expectation's severity: a gate that could not look never passes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from olist_etl.db import normalize_url
from olist_etl.settings import Settings

log = logging.getLogger(__name__)

GX_ERROR = "gx_error"
SAMPLE_SIZE = 5
ROW_COUNT_CHECK = "expect_table_row_count_to_equal"
# The row-query expectation types (ours, gates.expectations, and GX's own, which a user's suite
# may hold): the observed value is the number of offending rows.
ROW_QUERY_TYPES = frozenset({"unexpected_row_count_expectation", "unexpected_rows_expectation"})


# Keys written only when set: a gx_error's message, the rejects file of malformed rows.
OPTIONAL_KEYS = ("error", "rejects")


@dataclass
class GateFailure:
    """One failed expectation (or a gate that could not check, expectation == GX_ERROR)."""

    table: str | None
    expectation: str
    column: str | list[str] | None
    severity: str  # "critical" blocks the run, "warning" is reported only
    unexpected_count: int | None
    sample_values: list
    description: str
    error: str | None = None  # a gx_error's scrubbed message
    rejects: str | None = None  # URI of the malformed rows' file (staged parts' field count check)

    @property
    def critical(self) -> bool:
        return self.severity == "critical"

    def to_dict(self) -> dict:
        """The JSON shape stored everywhere; `error` and `rejects` are left out when unset."""
        data = asdict(self)
        for key in OPTIONAL_KEYS:
            if data[key] is None:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GateFailure":
        """A failure read back from stored JSON (a run summary, a gate result file)."""
        return cls(**data)


@dataclass
class GateResult:
    name: str
    success: bool
    failed_expectations: list[GateFailure] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def critical_failures(self) -> list[GateFailure]:
        return [f for f in self.failed_expectations if f.critical]

    def to_dict(self) -> dict:
        # asdict would write error/rejects as null on every failure; the stored shape omits them.
        return asdict(self) | {"failed_expectations": [f.to_dict() for f in self.failed_expectations]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


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


def describe_failure(failure: GateFailure) -> str:
    column = failure.column
    table = failure.table or "(all tables)"
    where = table if not column else f"{table}.{column if isinstance(column, str) else '(' + ', '.join(column) + ')'}"
    text = f"{where}: {failure.expectation}"
    if failure.unexpected_count is not None:
        text += f", {failure.unexpected_count} unexpected"
    if failure.sample_values:
        text += f", e.g. {json.dumps(failure.sample_values, default=str)}"
    if failure.error:
        text += f": {failure.error}"
    return text


def run_logger():
    """The Prefect run logger inside a flow or task run (so the UI shows failures), else this module's."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return log


def gx_error(table: str | None, err: BaseException | str, settings: Settings, what: str = "validating",
             column: str | list[str] | None = None) -> GateFailure:
    message = err if isinstance(err, str) else f"{err.__class__.__name__}: {err}"
    message = scrub(" ".join(str(message).split())[:800], settings)
    return GateFailure(
        table=table,
        expectation=GX_ERROR,
        column=column,
        severity="critical",
        unexpected_count=None,
        sample_values=[],
        description=f"Great Expectations raised while {what}; a gate that could not check must not pass.",
        error=message,
    )


def scrub(text: str, settings: Settings) -> str:
    """Driver errors can quote a URL; replace each raw URL and its password with the masked form."""
    for secret in (settings.warehouse_url, getattr(settings, "source_url", None)):
        if secret is None or not hasattr(secret, "reveal"):
            continue
        raw = secret.reveal()
        text = text.replace(raw, secret.masked)
        try:
            password = normalize_url(raw).password
        except Exception:  # an unparsable URL has no password to find
            password = None
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
    return path


def finish_gate(settings: Settings, run_id: str, result: GateResult, *, seconds: float | None = None) -> GateResult:
    """The one ending of every gate: success from the failures, result file, log, raise.

The data docs pages are already written by each validation's checkpoint; the index is rebuilt
once per run by docs.record_run, not per gate."""
    result.success = not result.critical_failures
    if result.data_docs is None and (settings.home / "data_docs").is_dir():
        result.data_docs = str(settings.home / "data_docs")
    write_gate_result(settings, run_id, result)
    logger = run_logger()
    for failure in result.failed_expectations:
        (logger.error if failure.critical else logger.warning)("%s: %s", result.name, describe_failure(failure))
    timing = f" in {seconds:.1f} s" if seconds is not None else ""
    logger.info("%s over %d table(s): %s%s", result.name, len(result.results), "passed" if result.success else "FAILED", timing)
    if not result.success:
        raise GateFailed(result)
    return result


# ---------------------------------------------------------------------------------------------
# A GX validation result -> the table's summary and failures


def from_validation(
    table: str,
    suite_name: str,
    validation,
    expected_results: int,
    settings: Settings,
    *,
    sample: Callable[[Any, dict], list] | None = None,
) -> tuple[dict, list[GateFailure]]:
    """One table's summary and failures from GX's ExpectationSuiteValidationResult.

    `sample(configuration, result)` fetches a few offending rows where GX gives none
    (a row query's expectation returns rows only in COMPLETE format, or never: gates.expectations).
    """
    failures: list[GateFailure] = []
    if len(validation.results) != expected_results:
        # A check GX silently skipped is a check that did not pass.
        failures.append(gx_error(table, f"GX returned {len(validation.results)} results for {expected_results} expectations", settings))
    expectations: list[dict] = []
    # GX does not return results in suite order, so each result is read from its own configuration.
    for item in validation.results:
        configuration = item.expectation_config
        meta = dict(configuration.meta or {})
        severity = meta.get("severity", "critical")
        raised = _raised_exception(item.exception_info)
        result = dict(item.result or {})
        summary = {
            "expectation": configuration.type,
            "column": _columns_of(configuration.kwargs, meta),
            "severity": severity,
            "success": bool(item.success) and raised is None,
            "unexpected_count": _unexpected_count(configuration, result),
            "element_count": result.get("element_count"),
            "observed_value": json_value(result.get("observed_value")),
            "kwargs": json_value(dict(configuration.kwargs)),  # as evaluated: suite parameters filled in
        }
        expectations.append(summary)
        if raised is not None:
            failures.append(gx_error(meta.get("table") or table, raised, settings, what=configuration.type, column=summary["column"]))
        elif not item.success:
            failures.append(
                GateFailure(
                    table=meta.get("table") or table,  # a post-merge check names its own table
                    expectation=configuration.type,
                    column=summary["column"],
                    severity=severity,
                    unexpected_count=summary["unexpected_count"],
                    sample_values=_sample_values(configuration, result, sample),
                    description=meta.get("description", ""),
                )
            )
    success = not any(f.critical for f in failures)
    return {"table": table, "suite": suite_name, "success": success, "expectations": expectations}, failures


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


def _columns_of(kwargs: dict, meta: dict) -> str | list[str] | None:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
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
    if configuration.type == "expect_table_row_count_to_be_between":
        # How far outside the range the count is: the rows missing (or too many).
        observed, kwargs = result.get("observed_value"), configuration.kwargs
        if not isinstance(observed, int):
            return None
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        return max(low - observed if low is not None else 0, observed - high if high is not None else 0, 0)
    if "unexpected_count" in result:
        return result["unexpected_count"]
    observed = result.get("observed_value")  # a row query's observed value: the offending row count
    return observed if isinstance(observed, int) and configuration.type in ROW_QUERY_TYPES else None


def _sample_values(configuration, result: dict, sample) -> list:
    if result.get("partial_unexpected_list") is not None:
        return [json_value(v) for v in result["partial_unexpected_list"][:SAMPLE_SIZE]]
    if configuration.type == ROW_COUNT_CHECK:
        return [{"rows_loaded": result.get("observed_value"), "manifest_rows": configuration.kwargs.get("value")}]
    if "observed_value" in result and configuration.type not in ROW_QUERY_TYPES:
        return [json_value(result["observed_value"])]
    if sample is None:
        return []
    try:
        return [json_value(row) for row in sample(configuration, result)]
    except Exception as err:  # the expectation already failed; a missing sample changes nothing
        log.warning("could not sample rows for %s: %s", configuration.type, err.__class__.__name__)
        return []


def json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, str):
        return value.rstrip()  # char(32) ids come back space-padded
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)
