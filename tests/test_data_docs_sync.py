"""Data docs of real syncs through the CLI (MariaDB source, PostgreSQL warehouse, S3 staging on
moto): markup planted in source rows shows as text on every page of the blocked run, and a run
that errors on S3 is listed as failed, with its error, not as passed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from olist_etl.staging import open_staging
from tests.support.services import mariadb_database, postgres_database, s3_bucket
from tests.support.docs import problems, scan
from tests.support.pipeline import Pipeline, cli, sync

pytestmark = pytest.mark.integration

# order_status is VARCHAR(20): both fit.
SVG = "<svg/onload=alert()>"
BREAKOUT = '"><script>x</script>'


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, moto_endpoint, prefect_api) -> Iterator[Pipeline]:
    home = tmp_path_factory.mktemp("docs-sync") / "home"
    home.mkdir()
    with mariadb_database() as source_url, postgres_database() as warehouse_url, s3_bucket(moto_endpoint) as staging_url:
        with pytest.MonkeyPatch.context() as mp:
            env = {"OLIST_HOME": str(home), "OLIST_SOURCE_URL": source_url, "OLIST_WAREHOUSE_URL": warehouse_url,
                   "OLIST_STAGING_URL": staging_url, "OLIST_LOOKBACK_MINUTES": "0"}
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("OLIST_MAX_REJECTED_ROWS", raising=False)
            code, _, err = cli("seed-source", "--scale", "0.01", "--seed", "5")
            assert code == 0, err[-2000:]
            code, full = sync("full")
            assert code == 0 and full["status"] == "promoted", full
            pipe = Pipeline(env)
            try:
                yield pipe
            finally:
                pipe.source.dispose()
                pipe.warehouse.dispose()


def run_pages(site, run_id: str) -> list:
    return sorted(p for p in (site / "validations").rglob("*.html") if f"/{run_id}/" in p.as_posix())


def test_markup_in_source_rows_shows_as_text_on_every_page_of_the_blocked_run(pipeline):
    with pipeline.source.connect() as conn:
        first, second = conn.execute(sa.text("select order_id from orders order by order_id limit 2")).scalars().all()
    pipeline.execute(f"update orders set order_status = :svg where order_id = '{first}'", svg=SVG)
    pipeline.execute(f"update orders set order_status = :breakout where order_id = '{second}'", breakout=BREAKOUT)

    code, summary = sync("incremental")

    assert code == 2 and summary["status"] == "blocked", summary
    site = Path(pipeline.env["OLIST_HOME"]) / "data_docs"
    run_page = site / "olist" / "runs" / f"{summary['run_id']}.html"
    assert summary["data_docs_run"] == str(run_page)
    pages = [site / "index.html", run_page, *run_pages(site, summary["run_id"])]
    assert len(pages) > 10  # every gate that ran wrote a page per table
    for page in pages:
        assert problems(scan(page)) == [], page
    orders = [p for p in pages[2:] if "/orders/" in p.as_posix() and "/staged/" in p.as_posix()]
    shown = " ".join(scan(p).plain for p in orders)
    assert SVG in shown and BREAKOUT in shown  # GX's unexpected values, as text
    assert SVG in scan(run_page).plain and SVG in scan(site / "index.html").plain
    # Published next to the staging area, the run page included.
    area = open_staging(pipeline.env["OLIST_STAGING_URL"])
    assert summary["data_docs_run_published"] == area.uri(f"data_docs/olist/runs/{summary['run_id']}.html")
    with area.reader(f"data_docs/olist/runs/{summary['run_id']}.html") as published:
        assert published.read() == run_page.read_bytes()

    pipeline.execute(f"update orders set order_status = 'delivered' where order_id in ('{first}', '{second}')")


def test_a_run_that_errors_on_s3_is_listed_as_failed(pipeline, monkeypatch):
    from olist_etl.staging import S3Staging, StagingError

    reader = S3Staging.reader

    def refused(self, key):
        # S3 refuses the staged parts once they are written (a revoked policy): the run errors mid-way.
        if "/part-" in key:
            raise StagingError(f"s3 GetObject {key}: AccessDenied", transient=False)
        return reader(self, key)

    monkeypatch.setattr(S3Staging, "reader", refused)
    pipeline.execute("update orders set order_status = 'shipped' where order_id = (select min(order_id) from (select order_id from orders) o)")

    code, out, err = cli("sync", "--mode", "incremental")

    assert code == 1, (out, err[-2000:])
    site = Path(pipeline.env["OLIST_HOME"]) / "data_docs"
    newest = sorted((site / "olist" / "runs").glob("*.json"))[-1]
    record = json.loads(newest.read_text())
    assert record["status"] == "failed" and "AccessDenied" in record["error"], record
    index = scan(site / "index.html")
    row = next(attrs for tag, attrs in index.tags if tag == "tr" and attrs.get("data-run") == record["run_id"])
    assert row["class"] == "olist-run olist-run-failed"
    assert record["error"] in index.plain
    # The gate that ran before the error is listed with the pages it wrote.
    source = next(g for g in record["gates"] if g["name"] == "gate-source-columns")
    assert source["success"] and len(source["pages"]) == 9
