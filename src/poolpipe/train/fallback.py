"""The C parser's answer without the C parser: the reference rule, line by line.

Where poolpipe.train._csv could not be built, parse_block calls parse_reference:
slower, and the same rows, counts and bad lines (the tests hold the two alike).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from poolpipe.train.rowrule import is_blank, parse_line

if TYPE_CHECKING:
    from poolpipe.train.columns import Columns


def parse_reference(
    data: bytes | memoryview, out: np.ndarray, columns: Columns, max_examples: int
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
