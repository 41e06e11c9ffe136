"""Create (or re-create) the Olist source tables from the DDL files in sql/source/<dialect>/."""

from __future__ import annotations

import sqlalchemy as sa

from olist_etl.sqlfiles import render, statements
from olist_etl.tables import TABLES

# SQLAlchemy dialect name -> the folder of our DDL files.
_DDL_DIALECTS = {"mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}


def source_dialect(bind: sa.Engine | sa.Connection) -> str:
    """mysql | sqlite: the source dialects this project ships DDL and bulk loading for."""
    name = bind.dialect.name
    if name not in _DDL_DIALECTS:
        raise ValueError(f"the Olist source must be MySQL/MariaDB or SQLite, not {name!r}")
    return _DDL_DIALECTS[name]


def schema_statements(dialect: str, *, drop_existing: bool) -> list[str]:
    """The DDL statements, in order, that create the source tables for a dialect."""
    out = []
    if drop_existing:
        out += statements(render(f"source/{dialect}/drop_tables.sql", dialect, tables=TABLES))
    out += statements(render(f"source/{dialect}/create_tables.sql", dialect, tables=TABLES))
    return out


def create_source_schema(engine: sa.Engine, *, drop_existing: bool) -> None:
    """Create the nine tables; with drop_existing the old tables and their rows go first.

    Without drop_existing the statements are all IF NOT EXISTS, so existing tables and rows stay.
    With it, the seed marker goes too: emptied tables are no longer a seeded source. Tables
    outside the catalog are never dropped.
    """
    dialect = source_dialect(engine)
    with engine.begin() as conn:
        if drop_existing:
            seed_marker_table.drop(conn, checkfirst=True)
        for statement in schema_statements(dialect, drop_existing=drop_existing):
            conn.execute(sa.text(statement))


# --- guards for the destructive commands ---------------------------------------------------------
#
# `seed-source` refuses a database that holds any table unless told to replace; `simulate-changes`
# refuses one that `seed-source` did not fill. The proof of the latter is this one-row table,
# written by the seeders in the same transaction as the rows (so a failed seed leaves no marker).
# It is not in the catalog: the extract, the gates and `verify` never see it.

SEED_MARKER = "olist_etl_seeded"
SHOWN_TABLES = 10  # a refusal names this many tables, then "and N more"

_marker_metadata = sa.MetaData()
seed_marker_table = sa.Table(
    SEED_MARKER,
    _marker_metadata,
    sa.Column("seeded_at", sa.DateTime, nullable=False),  # UTC
    sa.Column("source", sa.String(500), nullable=False),  # "synthetic" or "csv"
    sa.Column("scale", sa.Float),
    sa.Column("seed", sa.Integer),
    sa.Column("csv_dir", sa.String(1000)),
    sa.Column("version", sa.String(40), nullable=False),  # olist_etl.__version__ that seeded
)


def existing_tables(engine: sa.Engine) -> list[str]:
    """Every table and view in the source database (any name, not only Olist's), sorted."""
    source_dialect(engine)
    inspector = sa.inspect(engine)
    return sorted(set(inspector.get_table_names()) | set(inspector.get_view_names()))


def name_some(names: list[str], limit: int = SHOWN_TABLES) -> str:
    """'a, b, c' or 'a, ..., j and 5 more': a refusal stays one readable line."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def tables_replaced(found: list[str]) -> tuple[list[str], list[str]]:
    """(dropped, kept): what create_source_schema(drop_existing=True) drops among `found`."""
    ours = {t.name for t in TABLES} | {SEED_MARKER}
    return [t for t in found if t in ours], [t for t in found if t not in ours]


def ensure_seed_marker_table(engine: sa.Engine) -> None:
    """Create the marker table before a seed's transaction: MySQL DDL would commit that transaction."""
    with engine.begin() as conn:
        seed_marker_table.create(conn, checkfirst=True)


def write_seed_marker(conn: sa.Connection, *, source: str, scale: float | None = None,
                      seed: int | None = None, csv_dir: str | None = None) -> None:
    """Inside the seed's transaction: one row saying this database was filled by seed-source."""
    from datetime import datetime, timezone

    from olist_etl import __version__

    conn.execute(seed_marker_table.delete())
    conn.execute(seed_marker_table.insert().values(
        seeded_at=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0), source=source,
        scale=scale, seed=seed, csv_dir=csv_dir, version=__version__,
    ))


def read_seed_marker(engine: sa.Engine) -> dict | None:
    """The marker row, or None when the database was not seeded by seed-source (no table, no row)."""
    source_dialect(engine)
    if not sa.inspect(engine).has_table(SEED_MARKER):
        return None
    with engine.connect() as conn:
        row = conn.execute(seed_marker_table.select().limit(1)).mappings().first()
    return dict(row) if row is not None else None


def describe_seed_marker(marker: dict) -> str:
    if marker["source"] == "csv":
        what = f"Kaggle CSVs from {marker['csv_dir']}"
    else:
        what = f"synthetic data (scale {marker['scale']:g}, seed {marker['seed']})"
    return f"seeded {marker['seeded_at']:%Y-%m-%d %H:%M:%S} UTC with {what} by olist-etl {marker['version']}"


class SourceRefused(RuntimeError):
    """A destructive command declined to touch the source; the message is the one line to print."""


def plan_seed(engine: sa.Engine, where: str, *, replace: bool) -> str | None:
    """Before seed-source drops anything: refuse a database holding any table unless `replace`.

    `where` is the masked URL. Returns the line to print when tables will be replaced (None for an
    empty database); raises SourceRefused, having changed nothing, otherwise.
    """
    found = existing_tables(engine)
    if not found:
        return None
    dropped, kept = tables_replaced(found)
    drops = f"drop and re-create {name_some(dropped)}" if dropped else "create the Olist tables"
    keeps = f", keeping {name_some(kept)}" if kept else ""
    if not replace:
        raise SourceRefused(
            f"refused: {where} is not empty, it holds {len(found)} table(s): {name_some(found)}; nothing was changed."
            f" --replace would {drops}{keeps}"
        )
    return f"replacing the source {where}: dropping {name_some(dropped) if dropped else 'nothing'}" + (f", keeping {name_some(kept)}" if kept else "")
