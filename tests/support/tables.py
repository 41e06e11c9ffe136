"""Shared assertions and probes for the tests."""

from __future__ import annotations

import sqlalchemy as sa

from olist_etl.tables import quote_ident


def table_checksums(engine: sa.Engine, schema: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent md5 of every table in a PostgreSQL schema."""
    with engine.connect() as conn:
        names = conn.execute(
            sa.text("select table_name from information_schema.tables where table_schema = :s and table_type = 'BASE TABLE'"),
            {"s": schema},
        ).scalars().all()
        out = {}
        for name in sorted(names):
            row = conn.execute(
                sa.text(
                    f"select count(*), coalesce(md5(string_agg(t::text, '|' order by t::text)), '') "
                    f"from {quote_ident(schema)}.{quote_ident(name)} t"
                )
            ).one()
            out[name] = (row[0], row[1])
        return out


def assert_tables_unchanged(before: dict, after: dict) -> None:
    changed = {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert not changed, f"tables changed: {sorted(changed)}"


def row_count(engine: sa.Engine, qualified: str) -> int:
    schema, _, table = qualified.rpartition(".")
    name = f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)
    with engine.connect() as conn:
        return conn.execute(sa.text(f"select count(*) from {name}")).scalar_one()


def source_engine_for(dialect: str, request, tmp_path) -> sa.Engine:
    """A fresh, empty source database: SQLite under tmp_path, or MariaDB via the mariadb_url fixture."""
    from olist_etl.db import source_engine
    from tests.support.services import make_settings

    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'source.sqlite'}"
    else:
        url = request.getfixturevalue("mariadb_url")
    return source_engine(make_settings(tmp_path, source_url=url, warehouse_url=None))


def source_table_digest(engine: sa.Engine, table: str) -> tuple[int, str]:
    """Row count and md5 of a source table's data columns (updated_at left out), in key order."""
    import hashlib

    from olist_etl.tables import get_table, quote_mysql_ident

    spec = get_table(table)
    quote = quote_mysql_ident if engine.dialect.name in ("mysql", "mariadb") else quote_ident
    columns = ", ".join(quote(c) for c in spec.column_names)
    order = ", ".join(quote(c) for c in spec.primary_key)
    digest = hashlib.md5()
    count = 0
    with engine.connect() as conn:
        for row in conn.execute(sa.text(f"select {columns} from {quote(table)} order by {order}")):
            digest.update(repr(tuple(row)).encode())
            count += 1
    return count, digest.hexdigest()
