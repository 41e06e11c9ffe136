"""Create or replace the analytics views only when their definition changed.

`CREATE OR REPLACE VIEW` on every sync takes an exclusive lock on each view against the BI
readers, and Redshift refuses a replacement that changes the column set (PostgreSQL one that
removes, renames or reorders columns). So each view's rendered SQL is hashed and recorded in
etl_control.views: an unchanged view is not touched; a changed one with the same columns is
replaced (its grants kept); one whose columns change is dropped and created again. Runs inside
create_warehouse's guarded DDL transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from olist_etl.sqlfiles import render, statements

log = logging.getLogger(__name__)

_HEAD = re.compile(r"CREATE OR REPLACE VIEW\s+user_access_layer\.(?P<name>\w+)\s+AS\s*\n(?P<body>.*)\Z", re.S)
_COLUMN_SEPARATOR = ","


@dataclass(frozen=True)
class ViewChange:
    view: str
    action: str  # created | replaced | recreated | unchanged


def _parse(path: str, sql: str) -> tuple[str, str, str]:
    """(view name, the one CREATE statement, the view's SELECT) of a rendered view file."""
    found = statements(sql)
    match = _HEAD.search(found[0]) if len(found) == 1 else None
    if match is None:
        raise ValueError(f"{path}: expected exactly one 'CREATE OR REPLACE VIEW user_access_layer.<name> AS' statement")
    return match.group("name"), found[0], match.group("body")


def _one(dialect: str, path: str, **context: object) -> str:
    return statements(render(path, dialect, **context))[0]


def sync_views(conn: sa.Connection, dialect: str, views: list[tuple[str, str]]) -> list[ViewChange]:
    """Bring every view of `views` ((file, rendered SQL)) up to date; returns what was done."""
    stored = {
        name: md5
        for name, md5, _ in conn.execute(sa.text(_one(dialect, "warehouse/control/read_views.sql")))
    }
    changes = []
    for path, sql in views:
        name, create, body = _parse(path, sql)
        md5 = hashlib.md5(sql.encode("utf-8")).hexdigest()
        existing = list(conn.execute(sa.text(_one(dialect, "warehouse/control/view_columns.sql")), {"view_name": name}).scalars())
        if existing and stored.get(name) == md5:
            changes.append(ViewChange(name, "unchanged"))
            continue
        # Driver-level: view text has no parameters, and text() would read any ':word' as one.
        columns = list(conn.exec_driver_sql(_one(dialect, "warehouse/control/view_probe.sql", body=body.rstrip().rstrip(";"))).keys())
        if not existing:
            action = "created"
        elif existing == columns:
            action = "replaced"
        else:
            action = "recreated"
            conn.exec_driver_sql(_one(dialect, "warehouse/control/drop_view.sql", view=name))
            log.warning(
                "view user_access_layer.%s changed its columns (%s -> %s): dropped and created again; re-apply its grants",
                name, ", ".join(existing), ", ".join(columns),
            )
        conn.exec_driver_sql(create)
        record = statements(render("warehouse/control/record_view.sql", dialect))
        params = {
            "view_name": name, "definition_md5": md5, "column_names": _COLUMN_SEPARATOR.join(columns),
            "replaced_at": datetime.now(timezone.utc).replace(tzinfo=None),
        }
        for statement in record:
            conn.execute(sa.text(statement), params)
        changes.append(ViewChange(name, action))
    return changes
