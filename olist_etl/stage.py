"""Stage: write extracted rows as gzip CSV parts and a run manifest into the staging area.

Layout, one folder per run so nothing is ever overwritten:
    runs/<run_id>/<table>/part-00000.csv.gz   RFC 4180 CSV, UTF-8, header row, "\\n" line ends
    runs/<run_id>/manifest.json               parts, row counts, columns and watermarks per table

The CSV dialect keeps NULL and '' apart (docs/warehouse.md, "Staged CSV parts"): NULL is the
unquoted field NULL_MARKER, '' is an empty field, and a value equal to the marker is written
quoted, which PostgreSQL's COPY (NULL '~N~') and Redshift's (NULL AS '~N~') read as text. Python's
csv module cannot tell a quoted field from an unquoted one, so readers use staged_rows() below.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import re
from itertools import chain
from typing import Callable, Iterable, Sequence


from olist_etl.manifest import Part, RunManifest, TableExtract, manifest_key, part_key
from olist_etl.settings import Settings
from olist_etl.staging import StagingArea, open_staging, read_json, write_json

# Level 1 is several times faster than the default 9 and the parts shrink almost as much.
GZIP_LEVEL = 1

# NULL in a staged part: this text, unquoted. No backslash (Redshift reads backslashes in its
# literals and in NULL AS), no comma, quote, CR or LF (COPY refuses them in a NULL string).
NULL_MARKER = "~N~"


class _Null(str):
    """The marker as a str subclass: the csv module writes it as fast as any str, unquoted, while
    `is NULL_FIELD` still tells a NULL from a source value that happens to equal the marker."""


NULL_FIELD = _Null(NULL_MARKER)


def _quoted_line(row: Sequence) -> str:
    """One record with every non-NULL field quoted: for the rare rows the csv module would write
    ambiguously (a value equal to the marker, a lone CR it leaves unquoted on Python 3.11)."""
    fields = []
    for value in row:
        if value is None or value is NULL_FIELD:
            fields.append(NULL_MARKER)
            continue
        # As the csv module formats a value: repr for floats, str for everything else.
        text = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
        fields.append('"' + text.replace('"', '""') + '"')
    return ",".join(fields) + "\n"


class StagedCsvWriter:
    """Writes rows (tuples of text or Python values, None = NULL) in the staged dialect.

    A batch goes through the csv module's C writer in one writerows(), with no Python step per
    row (this runs for every extracted row); only a row holding a value equal to the marker, or a
    CR the csv module leaves unquoted, is formatted by hand (fully quoted). Memory: one batch.
    """

    def __init__(self, stream: io.TextIOBase):
        self._stream = stream
        self._direct = csv.writer(stream, lineterminator="\n")
        self._scratch = io.StringIO()
        self._csv = csv.writer(self._scratch, lineterminator="\n")

    def writerow(self, row: Sequence) -> None:
        self.writerows((row,))

    def writerows(self, rows: Iterable[Sequence]) -> None:
        rows = rows if isinstance(rows, (list, tuple)) else list(rows)
        if not rows:
            return
        # The batch as one flat list: the membership tests, the NULL substitution and the regrouping
        # into rows (zip over one iterator) all run in C, with no Python step per row.
        flat = list(chain.from_iterable(rows))
        width = len(rows[0])
        if NULL_MARKER in flat or len(flat) != width * len(rows):
            self._write_row_by_row(rows)  # rare: a value equal to the marker (or ragged rows)
            return
        if None in flat:
            flat = [NULL_FIELD if value is None else value for value in flat]
        try:
            carriage_return = "\r" in "".join(flat)
        except TypeError:  # not all text (a SQLite source's numbers): check the text as written
            carriage_return = True
        if carriage_return:
            self._flush(zip(*[iter(flat)] * width))
        else:
            self._direct.writerows(zip(*[iter(flat)] * width))  # straight into the part

    def _write_row_by_row(self, rows: Sequence[Sequence]) -> None:
        pending: list = []
        for row in rows:
            if NULL_MARKER in row:  # a source value equal to the marker: it must be quoted
                self._flush(pending)
                pending = []
                self._stream.write(_quoted_line(row))
                continue
            pending.append(row if None not in row else [NULL_FIELD if value is None else value for value in row])
        self._flush(pending)

    def _flush(self, rows: Iterable[Sequence]) -> None:
        rows = list(rows)
        if not rows:
            return
        self._csv.writerows(rows)
        text = self._scratch.getvalue()
        self._scratch.seek(0)
        self._scratch.truncate()
        if "\r" not in text:
            self._stream.write(text)
            return
        # Python 3.11's writer quotes LF but not a lone CR, which COPY and csv readers take for a
        # line end: redo this batch row by row and quote the rows that hold one.
        for row in rows:
            self._csv.writerow(row)
            line = self._scratch.getvalue()
            self._scratch.seek(0)
            self._scratch.truncate()
            self._stream.write(_quoted_line(row) if "\r" in line else line)


class PartWriter:
    """Writes rows into consecutive gzip CSV parts of at most `part_rows` rows each.

    Rows go straight into the open part's gzip stream, so memory holds one fetch, not a part. A
    part becomes visible under its key only when it is complete (the staging area's writer renames
    or uploads on close); abort() drops an unfinished one.
    """

    def __init__(
        self,
        area: StagingArea,
        run_id: str,
        table: str,
        columns: Sequence[str],
        part_rows: int,
        on_part: Callable[[int], None] | None = None,
    ):
        """`on_part` is called after each part is written, with the rows written so far."""
        if part_rows < 1:
            raise ValueError("part_rows must be at least 1")
        self.area = area
        self.run_id, self.table = run_id, table
        self.columns = list(columns)
        self.part_rows = part_rows
        self.parts: list[Part] = []
        self.on_part = on_part
        self._open: contextlib.ExitStack | None = None
        self._csv = None
        self._counted: _CountingWriter | None = None
        self._text: io.TextIOWrapper | None = None
        self._open_rows = 0

    def write(self, rows: Iterable[Sequence]) -> None:
        for row in rows:
            self.write_batch((row,))

    def write_batch(self, batch: Sequence[Sequence]) -> None:
        """Write a list of rows, splitting it across parts where a part fills up."""
        start = 0
        while start < len(batch):
            if self._open is None:
                self._open_part()
            chunk = batch[start : start + self.part_rows - self._open_rows]
            self._csv.writerows(chunk)
            self._open_rows += len(chunk)
            start += len(chunk)
            if self._open_rows >= self.part_rows:
                self._close_part()

    @property
    def rows_written(self) -> int:
        """Rows in the parts written so far (the open part's rows not included)."""
        return sum(p.rows for p in self.parts)

    def close(self) -> list[Part]:
        if self._open is not None:
            self._close_part()
        return self.parts

    def abort(self) -> None:
        """Drop the unfinished part: its key never appears (the parts already closed stay)."""
        if self._open is not None:
            stack, self._open = self._open, None
            stack.__exit__(RuntimeError, RuntimeError("part aborted"), None)

    def _open_part(self) -> None:
        stack = contextlib.ExitStack()
        raw = stack.enter_context(self.area.writer(self._key()))
        self._counted = _CountingWriter(raw)
        gz = stack.enter_context(gzip.GzipFile(fileobj=self._counted, mode="wb", compresslevel=GZIP_LEVEL, mtime=0))
        self._text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        self._csv = StagedCsvWriter(self._text)
        self._csv.writerow(self.columns)
        self._open, self._open_rows = stack, 0

    def _close_part(self) -> None:
        key = self._key()
        self._text.flush()
        self._text.detach()  # the gzip stream closes with the stack, not with the wrapper
        stack, self._open = self._open, None
        stack.close()  # finishes the gzip member, then renames or uploads the part
        self.parts.append(Part(key=key, rows=self._open_rows, bytes=self._counted.count))
        if self.on_part is not None:
            self.on_part(self.rows_written)

    def _key(self) -> str:
        return part_key(self.run_id, self.table, len(self.parts))


class _CountingWriter(io.RawIOBase):
    def __init__(self, inner):
        self.inner = inner
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.count += len(data)
        self.inner.write(data)
        return len(data)


def write_manifest(
    settings: Settings, run_id: str, mode: str, extracts: list[TableExtract], purchased: dict[str, str] | None = None
) -> RunManifest:
    """Write the run's manifest last: a run without one never reaches the load stage.

    `purchased` is a backfill's inclusive purchase-date range ({"from": ..., "to": ...}).
    """
    manifest = RunManifest.of_extracts(run_id, mode, settings.staging_url, extracts, purchased)
    write_json(open_staging(settings.staging_url), manifest_key(run_id), manifest.to_dict())
    return manifest


def read_manifest(settings: Settings, run_id: str) -> RunManifest:
    return RunManifest.from_dict(read_json(open_staging(settings.staging_url), manifest_key(run_id)))


class StagedCsvReader:
    """Reads a staged part's records as lists of str, with None for NULL (csv.reader alone cannot:
    it returns the marker for both a NULL and a quoted value equal to the marker).

    Raises csv.Error like csv.reader (strict). `line_num` is the last line read (1 = header);
    `raw` is the current record's text exactly as in the part, for copying a record unchanged.
    """

    def __init__(self, lines: Iterable[str]):
        self._source = _LineSource(lines)
        self._reader = csv.reader(self._source, strict=True)

    def __iter__(self):
        return self

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    @property
    def raw(self) -> str:
        return "".join(self._source.taken)

    def __next__(self) -> list:
        self._source.taken.clear()
        row = next(self._reader)
        if NULL_MARKER not in row:
            return row
        raw = self.raw
        flags = _unquoted_markers(raw) if f'"{NULL_MARKER}"' in raw else None
        if flags is None or len(flags) != len(row):
            # No quoted field equal to the marker in this record: every marker is a NULL.
            return [None if value == NULL_MARKER else value for value in row]
        return [None if is_null else value for value, is_null in zip(row, flags)]


class _LineSource:
    """csv.reader pulls lines through this, so StagedCsvReader keeps each record's raw text."""

    def __init__(self, lines: Iterable[str]):
        self._lines = iter(lines)
        self.taken: list[str] = []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line


# A field as written: quoted (quotes doubled inside) or unquoted up to the next comma or line end.
_RAW_FIELD = re.compile(r'"(?:[^"]|"")*"|[^,\r\n]*')


def _unquoted_markers(raw: str) -> list[bool] | None:
    """For each field of one raw record, whether it is the unquoted marker; None if unparseable."""
    text = raw[:-1] if raw.endswith("\n") else raw
    text = text[:-1] if text.endswith("\r") else text
    flags, pos = [], 0
    while True:
        match = _RAW_FIELD.match(text, pos)
        flags.append(match.group() == NULL_MARKER)
        pos = match.end()
        if pos == len(text):
            return flags
        if text[pos] != ",":
            return None
        pos += 1
