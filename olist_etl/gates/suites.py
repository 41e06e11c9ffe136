"""The versioned suites in expectations/<kind>/<name>.json and their GX objects.

Every file is a GX 1.x suite; every expectation carries meta.severity (`critical` blocks, `warning`
is only reported: the project's contract, copied into GX's own `severity` field too) and may carry
meta.checked_on: `source` (gate-source-columns, on the live source table) or `parts` (gate 1's
streaming structural pass, for what only the raw file shows: the header and field counts).
Everything else is evaluated by GX on the batch the gate validates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from olist_etl.resources import resource_dir
from olist_etl.tables import get_table

if TYPE_CHECKING:
    import great_expectations as gx

SEVERITIES = ("critical", "warning")
KINDS = ("staged", "delta", "post_merge")
POST_MERGE_SUITE = "star_schema"


def suite_path(kind: str, name: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown suite kind {kind!r}; expected one of {KINDS}")
    if kind != "post_merge":
        get_table(name)  # only catalog tables have suites
    return resource_dir("expectations") / kind / f"{name}.json"


def load_document(kind: str, name: str) -> dict:
    """A suite file as JSON, its severities checked."""
    path = suite_path(kind, name)
    document = json.loads(path.read_text(encoding="utf-8"))
    check_severities(document)
    return document


def check_severities(document: dict) -> None:
    for index, entry in enumerate(document["expectations"]):
        severity = (entry.get("meta") or {}).get("severity")
        if severity not in SEVERITIES:
            raise ValueError(
                f"suite {document['name']}: expectation #{index} ({entry.get('type')}) needs meta.severity in {SEVERITIES}, got {severity!r}"
            )


def entries(document: dict, checked_on: str | None) -> list[dict]:
    """The expectations checked at one place: None = by GX on the gate's batch."""
    return [e for e in document["expectations"] if (e.get("meta") or {}).get("checked_on") == checked_on]


def subsuite(document: dict, name: str, selected: list[dict]) -> dict:
    return {"name": name, "meta": dict(document.get("meta") or {}), "expectations": selected}


def suite_from_dict(document: dict) -> "gx.ExpectationSuite":
    """Build a GX suite from the JSON shape; reject expectations without a valid meta.severity."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    from olist_etl.gates.expectations import register as register_expectations

    register_expectations()
    check_severities(document)
    expectations = []
    for entry in document["expectations"]:
        meta = dict(entry.get("meta") or {})
        severity = meta["severity"]
        configuration = ExpectationConfiguration(
            type=entry["type"],
            kwargs=dict(entry["kwargs"]),
            meta=meta,
            severity=severity,
            # Data docs never show the expectation type, and validation pages do not show notes;
            # a GX description replaces the rendered sentence, so the page names the type, the
            # severity and the reason.
            description=f"{entry['type']} ({severity}): {meta.get('description', '')}",
        )
        expectations.append(configuration.to_domain_obj())
    return gx.ExpectationSuite(name=document["name"], expectations=expectations, meta=dict(document.get("meta") or {}))


def suite_to_dict(suite: "gx.ExpectationSuite") -> dict:
    """The JSON file shape of a suite (GX ids and defaults left out), so files round-trip."""
    expectations = []
    for expectation in suite.expectations:
        configuration = expectation.configuration
        expectations.append({"type": configuration.type, "kwargs": plain(configuration.kwargs), "meta": plain(configuration.meta)})
    meta = {k: v for k, v in plain(suite.meta).items() if k != "great_expectations_version"}
    return {"name": suite.name, "meta": meta, "expectations": expectations}


def load_suite(kind: str, name: str) -> "gx.ExpectationSuite":
    return suite_from_dict(load_document(kind, name))


def resolve(value: Any, parameters: dict) -> Any:
    """GX 1.x suite parameters: {"$PARAMETER": name} is the run's value (for checks outside GX)."""
    if isinstance(value, dict) and set(value) == {"$PARAMETER"}:
        name = value["$PARAMETER"]
        if name not in parameters:
            raise KeyError(f"suite parameter {name!r} has no value for this run")
        return parameters[name]
    return value


def plain(value: Any) -> Any:
    """JSON-native copy (GX hands back its own dict/list subclasses)."""
    return json.loads(json.dumps(value, default=str))
