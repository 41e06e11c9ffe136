"""What a seed did: rows per table, rejected rows and notes, printable for the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The report keeps this many rejected rows in detail; the rejects files hold all of them.
REPORTED_REJECTS = 1000


@dataclass(frozen=True)
class RejectedRow:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class SeedReport:
    source: str
    rows: dict[str, int] = field(default_factory=dict)
    rejected_counts: dict[str, int] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)
    rejects_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected_counts.values())

    def reject(self, table: str, row: RejectedRow) -> None:
        self.rejected_counts[table] = self.rejected_counts.get(table, 0) + 1
        if len(self.rejected) < REPORTED_REJECTS:
            self.rejected.append(row)

    def describe(self) -> str:
        lines = [f"seeded from {self.source} in {self.seconds:.1f} s: {self.total_rows:,} rows"]
        width = max((len(t) for t in self.rows), default=0)
        for table, count in self.rows.items():
            rejected = self.rejected_counts.get(table, 0)
            lines.append(f"  {table:<{width}} {count:>10,}" + (f"  ({rejected:,} rejected)" if rejected else ""))
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.total_rejected:
            lines.append(f"  {self.total_rejected:,} rejected rows, written to: " + ", ".join(str(p) for p in self.rejects_files))
            for row in self.rejected[:10]:
                lines.append(f"    {row}")
            if self.total_rejected > 10:
                lines.append(f"    ... and {self.total_rejected - 10:,} more")
        return "\n".join(lines)
