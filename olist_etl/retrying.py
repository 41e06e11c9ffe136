"""Which failures an I/O task retries: the ones another attempt can fix.

A Prefect `retry_condition_fn` shared by the extract, manifest and load tasks. Connection drops,
S3 5xx and throttling are retried with backoff; an error that will be the same next time (a
missing bucket, access denied, a staged file that does not match its manifest, a bad parameter)
fails the task at once, so the run ends with the real reason instead of after minutes of waiting.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

PERMANENT_ERRORS = (ValueError, KeyError, LookupError, TypeError)
# SQL the database refuses (a missing column, a type or constraint error) is refused again.
PERMANENT_SQL_ERRORS = (sa.exc.ProgrammingError, sa.exc.DataError, sa.exc.IntegrityError, sa.exc.NotSupportedError)


def is_permanent(error: BaseException) -> bool:
    """True when retrying cannot help: the error says so (`retryable = False`) or is a data/usage error."""
    if getattr(error, "retryable", True) is False or isinstance(error, PERMANENT_ERRORS + PERMANENT_SQL_ERRORS):
        return True
    # A statement SQLAlchemy could not even send (an unbound parameter, a compile error).
    return isinstance(error, sa.exc.StatementError) and not isinstance(error, sa.exc.DBAPIError)


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry unless the failure is permanent."""
    try:
        error = state.result(raise_on_failure=False)
    except Exception:  # the state carries no readable result: treat it as transient
        return True
    return not (isinstance(error, BaseException) and is_permanent(error))
