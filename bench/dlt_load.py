"""The dlt contender: every table of the source, sql_database + connectorx, full load into PostgreSQL.

Runs in bench/.venv-dlt (never the project's venv). URLs come from the environment so that a
password never shows in a process list:
  BENCH_SOURCE_URL     SQLAlchemy URL dlt reflects the tables with (mysql+pymysql://...)
  BENCH_CONNECTORX_URL the same database as connectorx spells it (mysql://...)
  BENCH_DEST_URL       postgresql://... of a fresh database
Prints one JSON object: dlt's step times (extract, normalize, load) and its per-table row counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import dlt
from dlt.sources.sql_database import sql_database


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="olist")
    parser.add_argument("--pipelines-dir", required=True)
    # csv: dlt's COPY-based path for PostgreSQL (the default insert_values writes INSERT statements).
    parser.add_argument("--file-format", default="csv")
    args = parser.parse_args()

    source = sql_database(
        credentials=os.environ["BENCH_SOURCE_URL"],
        backend="connectorx",
        backend_kwargs={"conn": os.environ["BENCH_CONNECTORX_URL"]},
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination=dlt.destinations.postgres(credentials=os.environ["BENCH_DEST_URL"]),
        dataset_name=args.dataset,
        pipelines_dir=args.pipelines_dir,
    )
    pipeline.run(source, write_disposition="replace", loader_file_format=args.file_format)
    trace = pipeline.last_trace
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in trace.steps
        if step.step in ("extract", "normalize", "load")
    }
    rows = dict(pipeline.last_trace.last_normalize_info.row_counts) if trace.last_normalize_info else {}
    print(json.dumps({"steps": steps, "row_counts": rows, "file_format": args.file_format}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
