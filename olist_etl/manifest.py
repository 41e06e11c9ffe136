"""The run manifest, typed, and every key a run writes in the staging area.

The manifest travels from the extract through the gates and the load to the promote; it is
written last by the extract stage (`runs/<run_id>/manifest.json`), so a run without one never
reaches the load. Every staging key a run writes is made here, so the layout of the staging area
is in one place:

    runs/<run_id>/manifest.json                 the manifest
    runs/<run_id>/<table>/part-NNNNN.csv.gz     staged parts
    runs/<run_id>/<table>/deleted-keys.csv.gz   keys the source comparison found gone
    runs/<run_id>/<table>/copy.manifest         Redshift's COPY manifest
    runs/<run_id>/rejects/<table>.csv           rows gate 1 rejected, with part key and line
    runs/<run_id>/summary.json                  the run summary
    quarantine/<run_id>/                        a blocked run's copy
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

RUNS_PREFIX = "runs"
QUARANTINE_PREFIX = "quarantine"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus random hex."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run_prefix(run_id: str) -> str:
    return f"{RUNS_PREFIX}/{run_id}"


def manifest_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/manifest.json"


def table_prefix(run_id: str, table: str) -> str:
    return f"{run_prefix(run_id)}/{table}"


def part_key(run_id: str, table: str, index: int) -> str:
    return f"{table_prefix(run_id, table)}/part-{index:05d}.csv.gz"


def deleted_keys_key(run_id: str, table: str) -> str:
    return f"{table_prefix(run_id, table)}/deleted-keys.csv.gz"


def copy_manifest_key(run_id: str, table: str) -> str:
    return f"{table_prefix(run_id, table)}/copy.manifest"


def rejects_key(run_id: str, table: str) -> str:
    return f"{run_prefix(run_id)}/rejects/{table}.csv"


def summary_key(run_id: str) -> str:
    return f"{run_prefix(run_id)}/summary.json"


def quarantine_prefix(run_id: str) -> str:
    return f"{QUARANTINE_PREFIX}/{run_id}"


@dataclass
class Part:
    key: str
    rows: int
    bytes: int


@dataclass
class TableExtract:
    """What one table's extract staged: the manifest entry for that table."""

    table: str
    columns: list[str]
    rows: int = 0
    parts: list[Part] = field(default_factory=list)
    since: str | None = None
    high_watermark: str | None = None
    # How the rows were chosen: full | window | window+compare | diff (olist_etl/extract.py).
    method: str = "window"
    # Rows read by key because the source comparison found them missing or different.
    fetched_by_key: int = 0
    # How promote finds this table's deleted keys: {"scope": all|listed|none, "key": the staged
    # deleted-keys file, "rows": its key count}; None leaves it to the run's mode.
    deletes: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        entry = asdict(self)
        entry.pop("table")
        return entry

    @classmethod
    def from_dict(cls, table: str, entry: dict[str, Any]) -> "TableExtract":
        known = {name: entry[name] for name in cls.__dataclass_fields__ if name in entry and name not in ("table", "parts")}
        parts = [Part(key=str(p["key"]), rows=int(p["rows"]), bytes=int(p["bytes"])) for p in entry.get("parts") or []]
        return cls(table=table, parts=parts, **known)


@dataclass
class RunManifest:
    """A run's manifest: what every table's extract staged, in table order."""

    run_id: str
    mode: str
    created_at: str = ""
    staging_url: str = ""
    tables: dict[str, TableExtract] = field(default_factory=dict)
    # A backfill's inclusive purchase-date range: {"from": ..., "to": ...}.
    purchased: dict[str, str] | None = None

    @classmethod
    def before_extract(cls, run_id: str, mode: str) -> "RunManifest":
        """What a run blocked or failed before its extract reports: no tables."""
        return cls(run_id=run_id, mode=mode)

    @classmethod
    def of_extracts(cls, run_id: str, mode: str, staging_url: str, extracts: list[TableExtract], purchased: dict[str, str] | None = None) -> "RunManifest":
        return cls(
            run_id=run_id,
            mode=mode,
            created_at=datetime.now(timezone.utc).isoformat(),
            staging_url=staging_url,
            tables={e.table: e for e in sorted(extracts, key=lambda e: e.table)},
            purchased=purchased,
        )

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    @property
    def rows_extracted(self) -> int | None:
        """Rows the run staged over every table; None before the extract."""
        return sum(entry.rows for entry in self.tables.values()) if self.tables else None

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "run_id": self.run_id,
            "mode": self.mode,
            "created_at": self.created_at,
            "staging_url": self.staging_url,
            "tables": {name: entry.to_dict() for name, entry in self.tables.items()},
        }
        if self.purchased is not None:
            document["purchased"] = dict(self.purchased)
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> "RunManifest":
        try:
            return cls(
                run_id=str(document["run_id"]),
                mode=str(document["mode"]),
                created_at=str(document.get("created_at") or ""),
                staging_url=str(document.get("staging_url") or ""),
                tables={name: TableExtract.from_dict(name, entry) for name, entry in (document.get("tables") or {}).items()},
                purchased=document.get("purchased"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"not a run manifest: {err.__class__.__name__}: {err}") from None
