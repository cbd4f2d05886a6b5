"""Rows of a CSV file with a header: parse them fast, say why one is bad.

The rule for a row is written twice: once here in Python (parse_line, the
reference) and once in C (poolpipe.train._csv, the fast path); the tests hold
the two to the same answer. Where the C module could not be built, parse_block
runs the reference rule line by line instead (parse_reference: slower, the same
rows, counts and bad lines). A row is good when its quotes are well formed, it
has as many fields as the header, and every used field holds one finite decimal
number (spaces and tabs around it allowed, quotes around the whole field too).
A line of only spaces and tabs is blank: counted, never a row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from poolpipe.core.chunks import BLOCK_SIZE

try:
    from poolpipe.train import _csv
except ImportError:  # the C parser was not built: the reference rule parses instead
    _csv = None

MAX_EXAMPLES = 10
"""Bad rows kept as examples (all are counted)."""

EXAMPLE_CHARS = 80

MALFORMED_QUOTES = (
    "malformed quotes: a field must be quoted whole on one line (one spanning lines is not read)"
)

_NUMBER = re.compile(rb"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
_BLANK = re.compile(rb"[ \t]*")


class RowLayout(Protocol):
    """What reading a row needs to know of the columns (train.columns.Columns is one).

    A protocol rather than Columns itself: the columns module reads the header with this
    module's rules, so this one must not import it back.
    """

    @property
    def delimiter(self) -> str: ...

    @property
    def header(self) -> tuple[str, ...]: ...

    @property
    def used(self) -> tuple[int, ...]: ...

    @property
    def width(self) -> int: ...

    def slots(self) -> bytes: ...


@dataclass(frozen=True)
class BadRow:
    """A skipped row: its line number, its text (cut, escaped) and why it was skipped."""

    line: int
    text: str
    reason: str


@dataclass(kw_only=True)
class Parsed:
    """The good rows of a block (one row per line, parsed columns in order) and its counts."""

    values: np.ndarray
    lines: int
    blank_lines: int
    bad_rows: int
    examples: list[BadRow] = field(default_factory=list)


def split_fields(line: bytes, delimiter: bytes) -> list[bytes] | None:
    """The fields of one line (no newline, no '\\r'), unquoted; None if its quotes are malformed."""
    fields: list[bytes] = []
    pos, end = 0, len(line)
    while True:
        if pos < end and line[pos : pos + 1] == b'"':
            out = bytearray()
            q = pos + 1
            while True:
                close = line.find(b'"', q)
                if close < 0:
                    # the line ends inside quotes: RFC 4180 would read on into the next line,
                    # but a worker sees only its own byte range, so such a row is bad here
                    return None
                out += line[q:close]
                if line[close + 1 : close + 2] == b'"':
                    out += b'"'  # "" inside quotes is one quote, not the field's end
                    q = close + 2
                    continue
                break
            pos = close + 1
            if pos < end and line[pos : pos + 1] != delimiter:
                return None  # text after the closing quote ("1"2): not a field
            fields.append(bytes(out))
        else:
            stop = line.find(delimiter, pos)
            stop = end if stop < 0 else stop
            if stop > pos and line[stop - 1 : stop] == b'"':
                return None  # a quote ends a field it did not open: the end of one over lines
            fields.append(line[pos:stop])
            pos = stop
        if pos < end:
            pos += 1
            continue
        return fields


def is_blank(line: bytes) -> bool:
    """Whether a line (no newline) holds only spaces and tabs."""
    return _BLANK.fullmatch(line) is not None


def parse_cell(cell: bytes) -> float | str:
    """The number in one field, or why it is not one ("empty", "not a number", ...)."""
    if is_blank(cell):
        return "empty"
    # the pattern, not float(), decides what is a number: float() also takes "nan", "inf"
    # and "1_000", which the C parser does not
    if not _NUMBER.fullmatch(cell):
        return "not a number"
    value = float(cell)
    if not math.isfinite(value):
        return "not a finite number"
    return value


def parse_line(line: bytes, columns: RowLayout) -> tuple[float, ...] | str | None:
    """The reference rule for one line (no '\\n'): its used values, None if blank, else why bad."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if is_blank(line):
        return None
    fields = split_fields(line, columns.delimiter.encode())
    if fields is None:
        return MALFORMED_QUOTES
    if len(fields) != len(columns.header):
        count = f"{len(fields)} field" + ("" if len(fields) == 1 else "s")
        return f"has {count}, the header has {len(columns.header)}"
    values = {}
    # in field order, so the reason names the leftmost bad field, as the C parser does
    for index in sorted(columns.used):
        value = parse_cell(fields[index])
        if isinstance(value, str):
            shown = fields[index].decode("utf-8", errors="backslashreplace")[:20]
            where = f"column {columns.header[index]!r}"
            return f"{where} is empty" if value == "empty" else f"{where} is {value}: {shown!r}"
        values[index] = value
    return tuple(values[index] for index in columns.used)


def parse_reference(
    data: bytes | memoryview, out: np.ndarray, columns: RowLayout, max_examples: int
) -> tuple[int, int, int, int, list[tuple[int, int, int]]]:
    """The C parser's answer by the reference rule: rows, lines, blanks, bad, bad lines' spans."""
    raw = bytes(data)
    rows = lines = blanks = bad = 0
    spans: list[tuple[int, int, int]] = []
    start = 0
    while start < len(raw):
        nl = raw.find(b"\n", start)
        end = len(raw) if nl < 0 else nl
        line = raw[start:end]
        if is_blank(line[:-1] if line.endswith(b"\r") else line):
            blanks += 1
        else:
            if rows >= len(out):
                raise ValueError("the output buffer is too small")
            got = parse_line(line, columns)
            if isinstance(got, tuple):
                out[rows] = got
                rows += 1
            else:
                bad += 1
                if len(spans) < max_examples:
                    spans.append((lines, start, end))
        lines += 1
        start = end + 1
    return rows, lines, blanks, bad, spans


def _example(line: int, raw: bytes, reason: str) -> BadRow:
    text = raw.rstrip(b"\r").decode("utf-8", errors="backslashreplace")
    if len(text) > EXAMPLE_CHARS:
        text = text[:EXAMPLE_CHARS] + "..."
    return BadRow(line, text, reason)


def row_capacity(columns: RowLayout, nbytes: int) -> int:
    """Most good rows nbytes can hold: each needs a digit per used field and every delimiter."""
    return nbytes // (len(columns.header) + columns.width) + 1


def parse_block(
    data: bytes | memoryview,
    columns: RowLayout,
    *,
    out: np.ndarray | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> Parsed:
    """Parse complete lines; example line numbers count from 1 at the block's first line.

    out, if given, is a float64 array of shape (>= row_capacity, width) to fill and reuse.
    """
    if out is None:
        out = np.empty((row_capacity(columns, len(data)), columns.width))
    if _csv is None:
        rows, lines, blanks, bad, spans = parse_reference(data, out, columns, max_examples)
    else:
        rows, lines, blanks, bad, spans = _csv.parse(
            data, out, columns.delimiter, columns.slots(), max_examples
        )
    examples = []
    # the C parser says only where a bad line is; the reference rule, run on those few
    # lines again, says why (so the reasons are written once, here)
    for index, start, end in spans:
        raw = bytes(data[start:end])
        reason = parse_line(raw, columns)
        if not isinstance(reason, str):
            reason = "rejected by the fast parser"
        examples.append(_example(index + 1, raw, reason))
    return Parsed(
        values=out[:rows], lines=lines, blank_lines=blanks, bad_rows=bad, examples=examples
    )


def overlong_row(line: int, data: memoryview, block_size: int = BLOCK_SIZE) -> BadRow:
    """The example for a line longer than the block size."""
    return _example(line, bytes(data[: EXAMPLE_CHARS + 1]), f"longer than {block_size} bytes")
