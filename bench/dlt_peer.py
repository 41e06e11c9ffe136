"""The dlt peer: bench/dlt_load.py run in bench/.venv-dlt, full load of every table into a fresh database."""

from __future__ import annotations

import json
import shutil

from common import BENCH, RssSampler, check_ok, run_measured
from olist_etl.tables import TABLE_NAMES
from services import Context, pg_row_counts


def run_dlt(ctx: Context, r: int) -> dict:
    label = f"dlt_r{r}"
    database = ctx.services.create_warehouse(label)
    try:
        pipelines = ctx.work / label / "pipelines"
        env = ctx.env | {
            "BENCH_SOURCE_URL": ctx.services.source_sqlalchemy_url(ctx.source_db),
            "BENCH_CONNECTORX_URL": ctx.services.source_url(ctx.source_db),
            "BENCH_DEST_URL": ctx.services.warehouse_url(database, password_required=True),
            "DLT_DATA_DIR": str(ctx.work / label / "data"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
        ctx.note_load(label)
        with RssSampler() as sampler:
            result = run_measured([str(ctx.dlt_python), str(BENCH / "dlt_load.py"), "--pipelines-dir", str(pipelines),
                                   "--file-format", ctx.args.dlt_file_format], env=env, cwd=ctx.work, logs=ctx.logs, name=label, sampler=sampler)
        check_ok(result, "the dlt pipeline")
        report = json.loads(result["stdout"].strip().splitlines()[-1])
        counts = pg_row_counts(ctx.services, database, "olist", TABLE_NAMES)
        ctx.check_counts(counts, label)
        return {"wall_s": result["wall_s"], "steps_s": report["steps"], "file_format": report["file_format"],
                "peak_rss_tree_bytes": sampler.peak, "max_rss_single_bytes": result["max_rss_single_bytes"], "loadavg_before": ctx.loads[label]}
    finally:
        ctx.services.drop_warehouse(database)
        shutil.rmtree(ctx.work / label, ignore_errors=True)
