"""Which rendering of the warehouse SQL a settings object runs (sqlfiles.RENDERINGS)."""

from __future__ import annotations

from olist_etl.db import dialect_of
from olist_etl.settings import Settings
from olist_etl.sqlfiles import REDSHIFT_ON_POSTGRESQL, template_dialect


def sql_dialect(settings: Settings) -> str:
    """The warehouse's dialect, or 'redshift-on-postgresql' when OLIST_WAREHOUSE_SQL asks for it
    on a PostgreSQL warehouse; any other combination is a configuration error (one line)."""
    if settings.warehouse_url is None:
        raise RuntimeError("the warehouse URL is not resolved; call resolve_warehouse(settings) first")
    dialect = dialect_of(settings.warehouse_url)
    chosen = settings.warehouse_sql
    if chosen is None or chosen == dialect:
        return dialect
    if chosen == REDSHIFT_ON_POSTGRESQL and dialect == "postgresql":
        return chosen
    raise ValueError(
        f"OLIST_WAREHOUSE_SQL={chosen!r} cannot run on a {dialect} warehouse: "
        f"only {REDSHIFT_ON_POSTGRESQL!r} on PostgreSQL, or the warehouse's own dialect"
    )


def is_redshift_sql(rendering: str) -> bool:
    """True for the Redshift SQL, on Redshift or on PostgreSQL."""
    return template_dialect(rendering) == "redshift"
