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
    """
    dialect = source_dialect(engine)
    with engine.begin() as conn:
        for statement in schema_statements(dialect, drop_existing=drop_existing):
            conn.execute(sa.text(statement))
