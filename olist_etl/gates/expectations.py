"""The one expectation class olist-etl adds to GX: UnexpectedRowCountExpectation.

GX's UnexpectedRowsExpectation runs its query twice, once for up to 200 of its rows (shown only
in COMPLETE results) and once for their count, and a query that finds nothing costs the same both
times: the post-merge suite's anti-joins over a run's keys took 163 s at scale 10, twice the
76 s its queries take once. The gates never ask GX for the rows (a failed check's samples come
from a LIMIT 5 read of the same query, gates.delta.rows_sampler), so this subclass depends on the
count alone. Everything else (kwargs, {batch}, the renderers on the data docs pages) is GX's own.

GX registers an expectation class by its name when the class is defined: `register()` imports
this module before any suite is built or any page rendered.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

class UnexpectedRowCountExpectation(UnexpectedRowsExpectation):
    """Fails when unexpected_rows_query returns any row; the result is their count."""

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None) -> dict:
        count = metrics["unexpected_rows_query.row_count"]
        return {"success": count == 0, "result": {"observed_value": count}}


def register() -> None:
    """Nothing to do: importing this module registered the class with GX."""
