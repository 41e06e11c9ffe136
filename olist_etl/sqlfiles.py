"""Load SQL from `sql/` files with narrow dialect templating.

Templates may only branch on the dialect and loop over catalog identifiers; values are always
bound parameters, never formatted in.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import jinja2

from olist_etl.resources import resource_dir
from olist_etl.tables import quote_ident, quote_mysql_ident

DIALECTS = ("postgresql", "redshift", "mysql", "sqlite")
# The Redshift SQL run on PostgreSQL: templates see dialect 'redshift' (temp-table MERGE sources,
# LOCK, anti-joins, counts from the merge sources), and only the few constructs PostgreSQL lacks
# (DATEADD/DATEDIFF, DISTKEY on a CTAS) render PostgreSQL's equivalent, keyed on `runs_on`. It
# exists so the logic of the Redshift path runs in the reconciliation tests (docs/redshift.md).
REDSHIFT_ON_POSTGRESQL = "redshift-on-postgresql"
RENDERINGS = DIALECTS + (REDSHIFT_ON_POSTGRESQL,)


def template_dialect(rendering: str) -> str:
    """The dialect a template branches on for a rendering ('redshift-on-postgresql' -> 'redshift')."""
    return "redshift" if rendering == REDSHIFT_ON_POSTGRESQL else rendering


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("sql"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["ident"] = quote_ident
    return env


@lru_cache(maxsize=1)
def text_columns() -> frozenset[str]:
    """Every free-text column name of the catalog (and of the star schema's derived text)."""
    from olist_etl.tables import TABLES

    names = {c.name for t in TABLES for c in t.columns if c.kind == "text"}
    return frozenset(names | {"product_category_name_english"})


def render(relative_path: str, dialect: str, **context: object) -> str:
    """Render `sql/<relative_path>` for a dialect (or REDSHIFT_ON_POSTGRESQL)."""
    if dialect not in RENDERINGS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    runs_on = "postgresql" if dialect == REDSHIFT_ON_POSTGRESQL else dialect
    dialect = template_dialect(dialect)
    # q() quotes a catalog identifier the way the target dialect wants it.
    quote = quote_mysql_ident if dialect == "mysql" else quote_ident
    return _environment().get_template(relative_path).render(
        dialect=dialect, runs_on=runs_on, q=quote, text_columns=text_columns(), **context
    )


def statements(sql: str) -> list[str]:
    """Split a rendered file into statements on semicolons that end a line.

    Our files never put a semicolon at the end of a line inside a string literal, so this simple
    rule is exact for them.
    """
    parts = re.split(r";[ \t]*(?:\n|$)", sql)
    out = []
    for part in parts:
        body = "\n".join(line for line in part.splitlines() if not line.strip().startswith("--")).strip()
        if body:
            out.append(part.strip())
    return out


def sql_files(folder: str) -> list[str]:
    """Relative paths of the .sql files in `sql/<folder>`, sorted by name."""
    root = resource_dir("sql")
    return sorted(str(p.relative_to(root)) for p in (root / folder).glob("*.sql"))


def sql_path(relative_path: str) -> Path:
    return resource_dir("sql") / relative_path
