"""One settings object, built from the environment in the entrypoint and passed down.

Connection URLs are wrapped in SecretUrl so that printing, logging or serialising the settings
never shows a password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url


class SecretUrl:
    """A connection URL whose password is masked everywhere except `.reveal()`."""

    __slots__ = ("_url",)

    def __init__(self, url: str):
        self._url = url

    def reveal(self) -> str:
        return self._url

    @property
    def masked(self) -> str:
        return mask_url(self._url)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"SecretUrl({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretUrl) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)


def _count(environ: dict[str, str], name: str) -> int:
    """A whole number >= 0 from the variable `name` (unset or empty: 0); a bad value names the variable."""
    raw = (environ.get(name) or "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {raw!r}")
    return value


def _number(environ: dict[str, str], name: str, default: str, *, whole: bool, minimum: float, above: bool = False) -> float:
    """A number from the variable `name` (unset or empty: default); a bad value names the variable."""
    raw = (environ.get(name) or "").strip() or default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"), float("-inf")) or value < minimum or (above and value == minimum):
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} must be {kind} {'>' if above else '>='} {minimum:g}, got {raw!r}")
    return value


EXTRACT_READERS = ("arrow", "python")


def _choice(environ: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` from the variable `name` (unset or empty: the first); a bad value names the variable."""
    raw = (environ.get(name) or "").strip().lower() or choices[0]
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***; non-SQLAlchemy URLs are returned unchanged."""
    try:
        parsed = make_url(url)
    except Exception:
        return url
    if not parsed.password:  # none, or empty (the embedded warehouse): nothing to hide
        return url
    return parsed.render_as_string(hide_password=True)


@dataclass(frozen=True)
class Settings:
    home: Path
    source_url: SecretUrl
    warehouse_url: SecretUrl | None  # None: the embedded PostgreSQL under home
    staging_url: str
    lookback: timedelta = timedelta(minutes=10)
    part_rows: int = 100_000
    redshift_iam_role: str | None = None
    embedded_warehouse: bool = field(default=False)
    # 0: a sync refuses at once while another one holds the warehouse lock; > 0: it waits that long.
    lock_wait_seconds: float = 0
    # Malformed staged rows (wrong field count) a run may drop, reported as a warning; 0: any blocks.
    max_rejected_rows: int = 0
    # The AWS region of the staging bucket when it differs from the cluster's (COPY ... REGION).
    redshift_region: str | None = None
    # Which rendering of the warehouse SQL runs: None is the warehouse's own dialect;
    # "redshift-on-postgresql" runs the Redshift SQL on a PostgreSQL warehouse (tests, docs/redshift.md).
    warehouse_sql: str | None = None
    # How a MySQL/MariaDB source is read: "arrow" (olist_etl/arrow_extract.py, native, several
    # times faster) or "python" (PyMySQL, the reference the Arrow parts are tested against).
    extract_reader: str = "arrow"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, load_dotenv: bool = True) -> "Settings":
        if environ is None:
            if load_dotenv:
                from dotenv import find_dotenv
                from dotenv import load_dotenv as _load

                # usecwd: the .env of the directory the user runs from, not of the installed package.
                _load(find_dotenv(usecwd=True), override=False)
            environ = dict(os.environ)
        home = Path(environ.get("OLIST_HOME") or "./.olist").expanduser().resolve()
        source = environ.get("OLIST_SOURCE_URL") or f"sqlite:///{home / 'source.sqlite'}"
        warehouse = environ.get("OLIST_WAREHOUSE_URL") or None
        staging = environ.get("OLIST_STAGING_URL") or (home / "staging").as_uri()
        return cls(
            home=home,
            source_url=SecretUrl(source),
            warehouse_url=SecretUrl(warehouse) if warehouse else None,
            staging_url=staging,
            lookback=timedelta(minutes=_number(environ, "OLIST_LOOKBACK_MINUTES", "10", whole=False, minimum=0)),
            part_rows=int(_number(environ, "OLIST_PART_ROWS", "100000", whole=True, minimum=0, above=True)),
            redshift_iam_role=environ.get("OLIST_REDSHIFT_IAM_ROLE") or None,
            lock_wait_seconds=_number(environ, "OLIST_LOCK_WAIT_SECONDS", "0", whole=False, minimum=0),
            max_rejected_rows=_count(environ, "OLIST_MAX_REJECTED_ROWS"),
            redshift_region=(environ.get("OLIST_REDSHIFT_REGION") or "").strip() or None,
            warehouse_sql=(environ.get("OLIST_WAREHOUSE_SQL") or "").strip() or None,
            extract_reader=_choice(environ, "OLIST_EXTRACT_READER", EXTRACT_READERS),
        )

    def with_warehouse(self, url: str, *, embedded: bool) -> "Settings":
        return replace(self, warehouse_url=SecretUrl(url), embedded_warehouse=embedded)

    def describe(self) -> dict[str, str]:
        """What a user may see: every URL masked."""
        return {
            "home": str(self.home),
            "source": self.source_url.masked,
            "warehouse": self.warehouse_url.masked if self.warehouse_url else "embedded PostgreSQL",
            "staging": self.staging_url,
        }
