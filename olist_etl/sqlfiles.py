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


def render(relative_path: str, dialect: str, **context: object) -> str:
    """Render `sql/<relative_path>` for a dialect."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    # q() quotes a catalog identifier the way the target dialect wants it.
    quote = quote_mysql_ident if dialect == "mysql" else quote_ident
    return _environment().get_template(relative_path).render(dialect=dialect, q=quote, **context)


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
