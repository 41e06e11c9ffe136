"""The `olist-etl` command line.

Exit codes: 0 promoted (or done), 2 blocked by a quality gate, 1 any other error,
3 `verify` found differences between the source and the warehouse,
143 / 130 `sync` stopped by SIGTERM / SIGINT (olist_etl/shutdown.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import webbrowser
from datetime import date
from pathlib import Path

from olist_etl.app.sync import EXIT_DIFFERENT, EXIT_ERROR, EXIT_OK, format_summary, run_sync

EPHEMERAL_STARTUP_TIMEOUT_SECONDS = "180"
VERIFY_SUMMARY_LIMIT = 20  # keys per kind and table a summary lists (the counts stay exact)


def _prepare_environment() -> None:
    # No internet here or in many production VPCs: never let Prefect phone home.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Without PREFECT_API_URL a sync starts a temporary Prefect server, which first migrates a new
    # Prefect home's database: over Prefect's default 20 s on a busy 2-core machine, so a first
    # `olist-etl sync` failed with "Timed out while attempting to connect to ephemeral Prefect API
    # server". A user's own value wins.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_TIMEOUT_SECONDS)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help texts show each option's default (when it has a meaningful one); epilogs keep their lines."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" not in text and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


EXIT_CODES_HELP = """exit codes:
  0  promoted, or done
  1  an error (a bad setting, an unreachable service, a bad option, ...)
  2  blocked by a quality gate: nothing promoted, watermarks unchanged
  3  verify (or sync --verify, repair) found the warehouse different from the source"""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("olist-etl")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from olist_etl import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1: exit code 2 means "blocked by a quality gate" in this tool."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="olist-etl", description="Sync the Olist source database into a star schema, with quality gates.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--verbose", action="store_true", help="on an error, print the full traceback too (give it before the command)"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = sub.add_parser(
        "check", help="check the source, warehouse, staging area (and Redshift, Prefect) settings; exit 0 all pass, 1 otherwise"
    )
    check.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")

    seed = sub.add_parser("seed-source", help="create the source tables and fill them")
    src = seed.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-csv", type=Path, metavar="DIR", help="the Kaggle Olist CSV files as downloaded")
    src.add_argument("--scale", type=positive_float, help="synthetic data; 1 = Kaggle's cardinalities")
    seed.add_argument("--seed", type=int, default=42, help="random seed of the synthetic generator")
    seed.add_argument(
        "--replace", action="store_true",
        help="allow a database that already holds tables: drop and re-create the Olist tables (others are kept);"
        " without it such a database is refused and nothing changes",
    )

    changes = sub.add_parser("simulate-changes", help="apply a realistic batch of changes to the source")
    changes.add_argument("--seed", type=int, default=7, help="random seed of the changes")
    changes.add_argument("--fraction", type=positive_float, default=0.01, help="share of orders touched")
    changes.add_argument(
        "--yes", action="store_true",
        help="change a database that `seed-source` did not fill (no olist_etl_seeded marker); refused without it",
    )

    sync = sub.add_parser("sync", help="run the olist-sync flow once")
    sync.add_argument(
        "--mode", choices=("full", "incremental", "diff", "backfill"), default="incremental",
        help="full: every row; incremental: rows changed since the last run plus what a comparison with the "
        "warehouse finds; diff: the comparison alone (drift repair, sources without updated_at); "
        "backfill: the orders purchased in --from..--to",
    )
    sync.add_argument("--from", dest="purchased_from", type=iso_date, metavar="YYYY-MM-DD", help="backfill: first purchase date (inclusive)")
    sync.add_argument("--to", dest="purchased_to", type=iso_date, metavar="YYYY-MM-DD", help="backfill: last purchase date (inclusive)")
    sync.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    sync.add_argument(
        "--verify", action="store_true",
        help="after a promoted run, compare every table with the source (as `verify`); exit 3 on a difference",
    )

    repair = sub.add_parser(
        "repair", help="re-sync exactly the keys where the warehouse differs from the source (sync --mode diff), then verify"
    )
    repair.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")

    demo = sub.add_parser("demo", help="seed, full sync, simulate changes, incremental sync")
    demo.add_argument("--scale", type=positive_float, default=0.02, help="synthetic data; 1 = Kaggle's cardinalities")
    demo.add_argument("--seed", type=int, default=42, help="random seed of the synthetic generator")

    report = sub.add_parser("report", help="write the BI report (one self-contained HTML file) from the analytics views")
    report.add_argument("--output", type=Path, metavar="PATH", help="where to write it (default: $OLIST_HOME/report/index.html)")

    docs = sub.add_parser("docs", help="print the local data docs index")
    docs.add_argument("--open", action="store_true", help="open it in a browser")

    warehouse = sub.add_parser("warehouse", help="the embedded warehouse")
    warehouse.add_argument("action", choices=("url", "stop"), help="url: print its URL (starting it if needed); stop: stop it")
    warehouse.add_argument(
        "--libpq", action="store_true",
        help="url: print the form psql takes (postgresql://..., no driver, no password) instead of the SQLAlchemy URL (default)",
    )

    blocks = sub.add_parser("blocks", help="save the credentials from the environment as Prefect blocks")
    blocks.add_argument("action", choices=("create",), help="create: save (or overwrite) the blocks")
    blocks.add_argument("--prefix", default="olist", help="block names are PREFIX-source-url, PREFIX-warehouse-url, PREFIX-aws, PREFIX-staging")

    verify = sub.add_parser("verify", help="compare every source table with the warehouse, inside both databases")
    verify.add_argument("--table", action="append", metavar="T", help="only this source table (repeatable)")
    verify.add_argument("--limit", type=int, default=20, metavar="N", help="keys printed per kind and table (counts stay exact)")
    verify.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")

    runs = sub.add_parser("runs", help="the latest runs recorded in etl_control.runs (promoted, blocked, failed, cancelled), newest first")
    runs.add_argument("--limit", type=int, default=20, metavar="N", help="how many runs to list")
    runs.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")

    quarantine = sub.add_parser("quarantine", help="the batches blocked runs kept under quarantine/ in the staging area")
    quarantine_sub = quarantine.add_subparsers(dest="quarantine_action", required=True, parser_class=_Parser)
    quarantine_list = quarantine_sub.add_parser("list", help="every quarantined batch, newest first")
    quarantine_list.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    quarantine_show = quarantine_sub.add_parser("show", help="what a blocked run kept and why (its failed expectations)")
    quarantine_show.add_argument("run_id", metavar="RUN_ID", help="the blocked run's id (see `quarantine list`)")
    quarantine_show.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    _prepare_environment()
    args = build_parser().parse_args(argv)
    from olist_etl.settings import Settings

    settings = None
    try:
        settings = Settings.from_env()  # a bad value (OLIST_PART_ROWS=abc) names its variable
        handler = _COMMANDS[args.command]
        if args.command in ("sync", "repair"):
            if args.command == "sync":
                from olist_etl.extract import purchase_window

                # A bad --mode/--from/--to combination is refused before anything connects.
                purchase_window(args.mode, args.purchased_from, args.purchased_to)
            # Before any temporary Prefect server or flow run: a bad endpoint fails in seconds.
            if not precheck_sync(settings, args):
                return EXIT_ERROR
            # SIGTERM/SIGINT end it cleanly (exit 143/130), no temporary Prefect server survives.
            from olist_etl.shutdown import guarded_sync

            return guarded_sync(settings, lambda: handler(settings, args), args.command)
        return handler(settings, args)
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as err:  # the last line of defence: one readable line, the traceback only with --verbose
        if args.verbose:
            import traceback

            traceback.print_exc()
        return report_error(args, error_line(err, settings))


def error_line(err: BaseException, settings=None) -> str:
    """One line naming the cause, every configured URL masked (an unparseable one not shown at all)."""
    from olist_etl.settings import mask_url

    orig = getattr(err, "orig", None)  # SQLAlchemy: the driver's reason, without the SQL and the link
    text = str(orig if isinstance(orig, BaseException) else err).strip()
    message = text.splitlines()[0].strip() if text else ""
    if settings is not None:
        for url in (settings.source_url.reveal(), settings.warehouse_url.reveal() if settings.warehouse_url else ""):
            if url:
                masked = mask_url(url)
                message = message.replace(url, masked if masked != url or "@" not in url else "(URL hidden)")
    if isinstance(err, KeyError) and message:
        return message.strip("'\"")  # KeyError's str() quotes its message
    if isinstance(err, ValueError) and message:
        return message  # our own messages name the setting or option already
    return f"{err.__class__.__name__}: {message}" if message else err.__class__.__name__


def report_error(args, message: str, run_id: str | None = None) -> int:
    """An error's one line on stderr; with --json also exactly one JSON object on stdout."""
    print(f"olist-etl {args.command}: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"status": "error", "error": message, "run_id": run_id}, sort_keys=True))
    return EXIT_ERROR


def cmd_check(settings, args) -> int:
    from olist_etl.check import run_checks

    if os.environ.get("OLIST_BLOCKS"):
        from olist_etl.blocks import settings_with_blocks

        settings = settings_with_blocks(settings)
    report = run_checks(settings)
    if args.json:
        print(report.to_json())
    else:
        print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_ERROR


def precheck_sync(settings, args) -> bool:
    """The fast part of `check` (can the source, warehouse and staging area be reached?) before any
    flow run or temporary Prefect server starts: a bad endpoint fails in seconds with one line.
    Skipped with OLIST_BLOCKS: the URLs then come from blocks that only the flow reads."""
    from olist_etl.check import run_checks

    if os.environ.get("OLIST_BLOCKS"):
        return True
    report = run_checks(settings, fast=True)
    if report.ok:
        return True
    for failure in report.failures[1:]:
        print(f"olist-etl {args.command}: error: {failure.detail}", file=sys.stderr)
    report_error(args, report.failures[0].detail)
    return False


def cmd_seed_source(settings, args) -> int:
    from olist_etl.db import source_engine
    from olist_etl.source import create_source_schema, seed_from_csv, seed_synthetic
    from olist_etl.source.schema import SourceRefused, plan_seed

    if args.from_csv and not args.from_csv.is_dir():  # before anything is dropped
        print(f"olist-etl seed-source: error: no such folder: {args.from_csv}", file=sys.stderr)
        return EXIT_ERROR
    engine = source_engine(settings)
    try:
        notice = plan_seed(engine, settings.source_url.masked, replace=args.replace)
    except SourceRefused as err:
        print(f"olist-etl seed-source: {err}", file=sys.stderr)
        return EXIT_ERROR
    if notice:
        print(notice)
    create_source_schema(engine, drop_existing=True)
    if args.from_csv:
        report = seed_from_csv(engine, args.from_csv, rejects_dir=settings.home / "rejects")
    else:
        report = seed_synthetic(engine, args.scale, args.seed)
    print(report.describe())
    return EXIT_OK


def cmd_simulate_changes(settings, args) -> int:
    from olist_etl.db import source_engine
    from olist_etl.source import simulate_changes
    from olist_etl.source.changes import check_seeded
    from olist_etl.source.schema import SourceRefused

    engine = source_engine(settings)
    try:
        print(check_seeded(engine, settings.source_url.masked, yes=args.yes))
    except SourceRefused as err:
        print(f"olist-etl simulate-changes: {err}", file=sys.stderr)
        return EXIT_ERROR
    report = simulate_changes(engine, seed=args.seed, fraction=args.fraction)
    print(report.describe())
    return EXIT_OK


def verify_after_sync(settings, summary: dict, limit: int = VERIFY_SUMMARY_LIMIT) -> int:
    """Compare every table after a promoted run; the result goes into the summary as "verify"."""
    from olist_etl.db import resolve_warehouse, source_engine, warehouse_engine
    from olist_etl.warehouse.compare import compare_all

    settings = resolve_warehouse(settings)
    source, warehouse = source_engine(settings), warehouse_engine(settings)
    try:
        diffs = compare_all(source, warehouse, max_keys=limit)
    finally:
        source.dispose()
        warehouse.dispose()
    different = {d.table: d.to_dict(limit) for d in diffs if not d.equal}
    summary["verify"] = {"status": "different" if different else "equal", "tables": different}
    return EXIT_DIFFERENT if different else EXIT_OK


def cmd_sync(settings, args, mode: str | None = None) -> int:
    from olist_etl.extract import purchase_window

    mode = mode or args.mode
    verify = getattr(args, "verify", False)
    dates = (getattr(args, "purchased_from", None), getattr(args, "purchased_to", None))
    # Refuse a bad --mode/--from/--to combination before a flow run exists (and notifies).
    purchase_window(mode, *dates)
    if args.json:
        # Libraries print progress to stdout; keep stdout for the one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            code, summary, error = run_sync(mode, *dates)
            if verify and code == EXIT_OK:
                code = verify_after_sync(settings, summary)
        if summary is None:
            report_error(args, error or "the sync failed")
            return code
        print(json.dumps(summary, sort_keys=True, default=str))
        return code
    code, summary, error = run_sync(mode, *dates)
    if verify and code == EXIT_OK:
        code = verify_after_sync(settings, summary)
    if summary:
        print(format_summary(summary))
    if error:
        print(f"olist-etl {args.command}: {error}", file=sys.stderr)
    return code


def cmd_repair(settings, args) -> int:
    """A diff sync (only the keys that differ travel, through every gate and the merge), verified."""
    args.verify = True
    return cmd_sync(settings, args, mode="diff")


def cmd_demo(settings, args) -> int:
    from olist_etl.app.demo import run_demo

    return run_demo(settings, scale=args.scale, seed=args.seed)


def cmd_report(settings, args) -> int:
    from olist_etl.bi_report import ReportError, write_report
    from olist_etl.db import resolve_warehouse

    try:
        path = write_report(resolve_warehouse(settings), args.output)
    except ReportError as err:
        print(f"olist-etl report: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(path)
    return EXIT_OK


def cmd_docs(settings, args) -> int:
    index = settings.home / "data_docs" / "index.html"
    if not index.exists():
        print(f"no data docs yet at {index}: run `olist-etl sync` first", file=sys.stderr)
        return EXIT_ERROR
    print(index)
    if args.open:
        webbrowser.open(index.as_uri())
    return EXIT_OK


def cmd_warehouse(settings, args) -> int:
    from olist_etl.db import resolve_warehouse, stop_embedded_postgres

    if args.action == "stop":
        stopped = stop_embedded_postgres(settings.home / "warehouse-pg")
        print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
        return EXIT_OK
    url = resolve_warehouse(settings).warehouse_url
    if not args.libpq:
        print(url.masked)
        return EXIT_OK
    from olist_etl.db import libpq_url

    try:
        text, dropped_password = libpq_url(url.reveal())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(text)
    if dropped_password:
        print("note: the password is not printed; give it to psql with PGPASSWORD or ~/.pgpass", file=sys.stderr)
    return EXIT_OK


def cmd_blocks(settings, args) -> int:
    from olist_etl.blocks import create_blocks

    # Settings.from_env has loaded .env into os.environ already; only block names are printed.
    created = create_blocks(os.environ, args.prefix)
    if not created:
        print("nothing to save: set OLIST_SOURCE_URL, OLIST_WAREHOUSE_URL, AWS_* or an s3:// OLIST_STAGING_URL", file=sys.stderr)
        return EXIT_ERROR
    for line in created:
        print(f"saved {line}")
    print(f"flows read them when OLIST_BLOCKS={args.prefix} is set in the worker's environment")
    return EXIT_OK


def cmd_verify(settings, args) -> int:
    import sqlalchemy as sa

    from olist_etl.db import resolve_warehouse, source_engine, warehouse_engine
    from olist_etl.tables import get_table
    from olist_etl.warehouse.compare import CompareError, compare_all

    try:
        tables = [get_table(name).name for name in args.table] if args.table else None
        if args.limit < 0:
            raise ValueError(f"--limit must be >= 0, got {args.limit}")
        settings = resolve_warehouse(settings)
        source, warehouse = source_engine(settings), warehouse_engine(settings)
        try:
            # max_keys = limit: lists stay small however far apart the databases are.
            diffs = compare_all(source, warehouse, tables, max_keys=args.limit)
        finally:
            source.dispose()
            warehouse.dispose()
    except (KeyError, ValueError, CompareError, sa.exc.SQLAlchemyError) as err:
        # One line: KeyError's str() quotes its message, SQLAlchemy's spans many lines.
        from olist_etl.settings import mask_url

        message = err.args[0] if isinstance(err, KeyError) and err.args else str(getattr(err, "orig", None) or err)
        for url in (settings.source_url.reveal(), settings.warehouse_url.reveal() if settings.warehouse_url else ""):
            if url:
                message = message.replace(url, mask_url(url))
        print(f"olist-etl verify: error: {message.strip().splitlines()[0] if message.strip() else err.__class__.__name__}", file=sys.stderr)
        return EXIT_ERROR
    different = [d for d in diffs if not d.equal]
    if args.json:
        print(json.dumps({"status": "different" if different else "equal", "tables": {d.table: d.to_dict(args.limit) for d in diffs}}, sort_keys=True))
    else:
        print(format_verify(diffs, args.limit))
    return EXIT_DIFFERENT if different else EXIT_OK


def format_verify(diffs, limit: int) -> str:
    different = [d for d in diffs if not d.equal]
    lines = [f"verify: {'DIFFERENT' if different else 'EQUAL'} ({len(different)} of {len(diffs)} tables differ)"]
    for d in diffs:
        state = "equal" if d.equal else "DIFFERENT"
        lines.append(f"  {d.table:<36}{state:<10} source {d.source_rows} rows, warehouse {d.warehouse_rows} rows ({d.seconds:.2f} s)")
        for kind, keys, count in (("missing from the warehouse", d.missing, d.missing_count), ("extra in the warehouse", d.extra, d.extra_count)):
            if count:
                lines.append(f"    {kind}: {count}")
                lines += [f"      {', '.join(key)}" for key in keys[:limit]]
                if count > min(len(keys), limit):
                    lines.append(f"      ... and {count - min(len(keys), limit)} more")
        if d.changed_count:
            lines.append(f"    changed: {d.changed_count}")
            for key, columns in d.changed[:limit]:
                described = "; ".join(f"{c.name}: source {c.source_value!r}, warehouse {c.warehouse_value!r}" for c in columns)
                lines.append(f"      {', '.join(key)}: {described}")
            shown = min(len(d.changed), limit)
            if d.changed_count > shown:
                lines.append(f"      ... and {d.changed_count - shown} more")
    return "\n".join(lines)


def _history_error(command: str, settings, err: Exception) -> int:
    """One line on stderr, URLs masked, exit 1: a run-history question that cannot be answered."""
    from olist_etl.runs import RunsError, error_line

    print(f"olist-etl {command}: error: {err if isinstance(err, RunsError) else error_line(err, settings)}", file=sys.stderr)
    return EXIT_ERROR


def cmd_runs(settings, args) -> int:
    import sqlalchemy as sa

    from olist_etl.db import resolve_warehouse
    from olist_etl.runs import RunsError, format_runs, list_runs

    try:
        found = list_runs(resolve_warehouse(settings), args.limit)
    except (RunsError, sa.exc.SQLAlchemyError) as err:
        return _history_error("runs", settings, err)
    print(json.dumps({"runs": found}, sort_keys=True) if args.json else format_runs(found))
    return EXIT_OK


def cmd_quarantine(settings, args) -> int:
    from olist_etl.runs import RunsError, format_quarantine_list, format_quarantine_show, list_quarantine, show_quarantine
    from olist_etl.staging import StagingError

    command = f"quarantine {args.quarantine_action}"
    try:
        if args.quarantine_action == "list":
            batches = list_quarantine(settings)
            print(json.dumps({"quarantined": batches}, sort_keys=True) if args.json else format_quarantine_list(batches))
        else:
            shown = show_quarantine(settings, args.run_id)
            print(json.dumps(shown, sort_keys=True, default=str) if args.json else format_quarantine_show(shown))
    except (RunsError, StagingError) as err:
        return _history_error(command, settings, err)
    return EXIT_OK


_COMMANDS = {
    "check": cmd_check,
    "seed-source": cmd_seed_source,
    "simulate-changes": cmd_simulate_changes,
    "sync": cmd_sync,
    "demo": cmd_demo,
    "report": cmd_report,
    "docs": cmd_docs,
    "warehouse": cmd_warehouse,
    "blocks": cmd_blocks,
    "verify": cmd_verify,
    "repair": cmd_repair,
    "runs": cmd_runs,
    "quarantine": cmd_quarantine,
}

if __name__ == "__main__":
    raise SystemExit(main())
