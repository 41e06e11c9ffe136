"""The run's data docs page at the end of a run: linked from the summary JSON and the Prefect
artifact, published to S3 next to the staging area, and written for a run that failed too."""

from __future__ import annotations

import json
import logging

import pytest
from prefect import flow

from olist_etl import report
from olist_etl.gates import docs
from olist_etl.manifest import summary_key
from olist_etl.staging import open_staging, read_json
from tests.support.docs import ERROR, GATE, build_site


def latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1)[0]


def blocked_summary(site) -> dict:
    gate = site.gates[site.blocked]
    return {
        "status": "blocked", "mode": "full", "run_id": site.blocked, "tables": {},
        "gates": [{"name": gate.name, "success": gate.success, "failed_expectations": [f.to_dict() for f in gate.failed_expectations]}],
        "data_docs": str(site.root / "index.html"),
    }


@pytest.mark.integration
def test_the_summary_and_the_artifact_link_the_published_run_page(olist_home, s3_staging_url, prefect_api):
    site = build_site(olist_home, staging_url=s3_staging_url)
    summary = blocked_summary(site)

    @flow(name="publish-docs-test")
    def publish():  # artifacts belong to a flow run, as in the sync
        report.publish_run_artifacts(site.settings, summary, [site.gates[site.blocked]])

    publish()

    area = open_staging(s3_staging_url)
    key = f"data_docs/olist/runs/{site.blocked}.html"
    assert summary["data_docs_run"] == str(site.root / "olist" / "runs" / f"{site.blocked}.html")
    assert summary["data_docs_run_published"] == area.uri(key)
    with area.reader(key) as page:
        assert 'olist-status-blocked" id="olist-run-status">blocked<' in page.read().decode("utf-8")
    assert read_json(area, summary_key(site.blocked))["data_docs_run_published"] == area.uri(key)
    with area.reader("data_docs/index.html") as index:
        published = index.read().decode("utf-8")
    assert f'data-run="{site.failed}"' in published and "olist-status-failed" in published
    # Every validation page the runs wrote is published with the index that links it.
    pages = [p for p in area.list("data_docs/validations/") if p.endswith(".html")]
    assert len(pages) == 6
    assert area.uri(key) in json.dumps(latest_artifact("olist-sync-data-docs").data)


def test_a_failed_run_is_listed_as_failed_even_when_publishing_fails(olist_home, monkeypatch, caplog):
    site = build_site(olist_home)
    # The staging area is what failed: publishing raises, and the run's own error stays the one raised.
    monkeypatch.setattr(report, "publish_data_docs", lambda settings, area=None: (_ for _ in ()).throw(OSError("S3 is down")))
    run_id = "20261130T110000Z-dddddd"

    with caplog.at_level(logging.WARNING, logger="olist_etl.report"):
        report.publish_failed_run(site.settings, run_id, "incremental", "failed", ERROR, [])

    assert "S3 is down" in caplog.text
    record = json.loads((site.root / "olist" / "runs" / f"{run_id}.json").read_text())
    assert (record["status"], record["error"]) == ("failed", ERROR)
    assert f'data-run="{run_id}"' in (site.root / "index.html").read_text()


def test_a_run_page_lists_the_pages_of_a_gate_that_raised_before_returning(olist_home):
    """A gate that errored returns no result; the pages it wrote still show, under its name."""
    site = build_site(olist_home)

    docs.record_run(site.settings, site.promoted, "failed", gates=[], error="killed")

    record = json.loads((site.root / "olist" / "runs" / f"{site.promoted}.json").read_text())
    assert [(g["name"], len(g["pages"]), g["success"]) for g in record["gates"]] == [(GATE, 2, True)]
    record = json.loads((site.root / "olist" / "runs" / f"{site.blocked}.json").read_text())
    assert [(g["name"], g["success"]) for g in record["gates"]] == [(GATE, False)]
