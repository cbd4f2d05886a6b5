"""The deterministic demo numbers file, made from a seed so a bare run needs no data."""

from __future__ import annotations

import functools
import os

import numpy as np

from poolpipe.core.outputs import open_atomic
from poolpipe.errors import PoolpipeError

NUMBER_BOUND = 9_999_999_999
"""Demo numbers are uniform in [-NUMBER_BOUND, NUMBER_BOUND]: signed, up to ten digits."""

BAD_SAMPLES = (b"twelve", b"1.5", b"1e3", b"0x10", b"\xff\xfe", b"4\x002", b"1_000")
_BLOCK_LINES = 1 << 20
_HALF = 10**5
_WIDTHS = 10 ** np.arange(1, 10, dtype=np.int64)


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eight-byte pieces of a line, as uint64: the high five digits after a sign slot
    (b"__-ddddd"), the low five digits and the newline (b"ddddd\\n__"), and which of a line's
    sixteen bytes to keep for each digit count and sign."""
    numbers = np.arange(_HALF, dtype=np.int64)[:, None]
    digits = ((numbers // 10 ** np.arange(4, -1, -1)) % 10 + ord("0")).astype(np.uint8)
    high = np.zeros((_HALF, 8), dtype=np.uint8)
    high[:, 2], high[:, 3:] = ord("-"), digits
    low = np.zeros((_HALF, 8), dtype=np.uint8)
    low[:, :5], low[:, 5] = digits, ord("\n")
    keep = np.zeros((2, 11, 16), dtype=np.uint8)
    for negative in (0, 1):
        for width in range(1, 11):
            keep[negative, width, 13 - width : 14] = 1
            keep[negative, width, 2] = negative
    return high.view(np.uint64)[:, 0], low.view(np.uint64)[:, 0], keep.view(np.uint64)


def _widths(magnitude: np.ndarray) -> np.ndarray:
    """How many digits each number has (0 has one)."""
    width = np.ones(len(magnitude), dtype=np.int64)
    for bound in _WIDTHS:
        width += magnitude >= bound
    return width


def format_lines(values: np.ndarray) -> bytes:
    """Integers of at most ten digits as decimal lines, byte for byte what
    b"\\n".join(str(v).encode() for v in values) + b"\\n" writes, built in whole arrays."""
    high, low, keep = _tables()
    magnitude = np.abs(values.astype(np.int64))
    line = np.empty((len(values), 2), dtype=np.uint64)
    line[:, 0] = high[magnitude // _HALF]
    line[:, 1] = low[magnitude % _HALF]
    chosen = keep[(values < 0).astype(np.int64), _widths(magnitude)]
    return line.view(np.uint8)[chosen.view(np.bool_)].tobytes()


def _replace_lines(data: bytes, values: np.ndarray, lines: dict[int, bytes]) -> bytes:
    """data (format_lines(values)) with the given lines' text replaced, newlines kept."""
    ends = np.cumsum(_widths(np.abs(values)) + 1 + (values < 0))
    pieces, at = [], 0
    for index in sorted(lines):
        end = int(ends[index]) - 1
        start = int(ends[index - 1]) if index else 0
        pieces += [data[at:start], lines[index]]
        at = end
    pieces.append(data[at:])
    return b"".join(pieces)


def write_numbers(
    path: str | os.PathLike[str], lines: int, *, seed: int, blank_lines: int = 0, bad_lines: int = 0
) -> int:
    """Write the demo numbers file (given counts of its lines blank or bad); return its size."""
    if blank_lines + bad_lines > lines:
        raise PoolpipeError(
            f"{blank_lines:,} blank and {bad_lines:,} bad lines do not fit in {lines:,} lines"
        )
    rng = np.random.default_rng(seed)
    special = blank_lines + bad_lines
    where = (
        sorted(int(i) for i in rng.choice(lines, size=special, replace=False)) if special else []
    )
    replace = {
        index: b"" if k < blank_lines else BAD_SAMPLES[k % len(BAD_SAMPLES)]
        for k, index in enumerate(where)
    }
    size = 0
    with open_atomic(path) as fh:
        for first in range(0, lines, _BLOCK_LINES):
            count = min(_BLOCK_LINES, lines - first)
            values = rng.integers(-NUMBER_BOUND, NUMBER_BOUND, size=count, endpoint=True)
            data = format_lines(values)
            mine = [i - first for i in where if first <= i < first + count]
            if mine:
                data = _replace_lines(data, values, {i: replace[i + first] for i in mine})
            fh.write(data)
            size += len(data)
    return size
