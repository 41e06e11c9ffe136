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
