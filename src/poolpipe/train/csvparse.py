"""Rows of a CSV file with a header: parse them fast, say why one is bad.

The rules for a row are written twice: once in Python (rowrule.parse_line, the
reference) and once in C (poolpipe.train._csv, the fast path); the tests hold
the two to the same answer. Where the C module could not be built, parse_block
runs the reference rule line by line instead (slower, the same rows). A row is
good when its quotes are well formed, it has as many fields as the header, and
every used field holds one finite decimal number (spaces and tabs around it
allowed, quotes around the whole field too).
A line of only spaces and tabs is blank: counted, never a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from poolpipe.core.chunks import BLOCK_SIZE
from poolpipe.train.fallback import parse_reference
from poolpipe.train.rowrule import parse_line

try:
    from poolpipe.train import _csv
except ImportError:  # the C parser was not built: the reference rule parses instead
    _csv = None

if TYPE_CHECKING:
    from poolpipe.train.columns import Columns

MAX_EXAMPLES = 10
"""Bad rows kept as examples (all are counted)."""

EXAMPLE_CHARS = 80


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


def _example(line: int, raw: bytes, reason: str) -> BadRow:
    text = raw.rstrip(b"\r").decode("utf-8", errors="backslashreplace")
    if len(text) > EXAMPLE_CHARS:
        text = text[:EXAMPLE_CHARS] + "..."
    return BadRow(line, text, reason)


def row_capacity(columns: Columns, nbytes: int) -> int:
    """Most good rows nbytes can hold: each needs a digit per used field and every delimiter."""
    return nbytes // (len(columns.header) + columns.width) + 1


def parse_block(
    data: bytes | memoryview,
    columns: Columns,
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
