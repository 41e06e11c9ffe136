"""GX SQL datasources over the project's databases; the connection string lives only in memory."""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

from olist_etl.db import normalize_url, warehouse_connect_args
from olist_etl.settings import SecretUrl


def add_sql(context, name: str, url: SecretUrl, *, connect_args: dict | None = None):
    """A generic SQL datasource: add_sql, not add_postgres, since the latter rejects the embedded
    server's Unix-socket URL, and one generic datasource serves Redshift and MySQL too."""
    raw = url.reveal()
    if connect_args is None:
        connect_args = warehouse_connect_args(raw)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        return context.data_sources.add_sql(
            name=name,
            connection_string=normalize_url(raw).render_as_string(hide_password=False),
            kwargs={"connect_args": connect_args},
        )


@contextlib.contextmanager
def borrowed_connection(context, name: str, conn) -> Iterator:
    """A datasource whose engine runs on `conn`, a SQLAlchemy connection inside an open transaction.

    GX opens and closes connections itself, and SQLAlchemy rolls a new connection back after its
    first-connect setup; either would end the caller's transaction (and hide its uncommitted rows).
    While GX holds it, the DBAPI connection's commit, rollback and close do nothing: only its owner
    ends the transaction, after GX is done.
    """
    from sqlalchemy.pool import StaticPool

    dbapi = conn.connection.dbapi_connection
    url = conn.engine.url.set(password=None, host=None, port=None, database=None, username=None, query={})
    patched = ("commit", "rollback", "close")
    for method in patched:
        setattr(dbapi, method, lambda: None)
    datasource = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
            datasource = context.data_sources.add_sql(
                name=name,
                connection_string=url.render_as_string(hide_password=False),
                kwargs={"creator": lambda: dbapi, "poolclass": StaticPool, "pool_reset_on_return": None},
            )
        yield datasource
    finally:
        if datasource is not None:
            datasource.get_engine().dispose()
        for method in patched:
            with contextlib.suppress(AttributeError):
                delattr(dbapi, method)
