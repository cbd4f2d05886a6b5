"""The deterministic demo numbers file, made from a seed so a bare run needs no data."""

from __future__ import annotations

import functools
import os

import numpy as np

from poolpipe.core.outputs import open_atomic

NUMBER_BOUND = 9_999_999_999
"""Demo numbers are uniform in [-NUMBER_BOUND, NUMBER_BOUND]: signed, up to ten digits."""

BAD_SAMPLES = (b"twelve", b"1.5", b"1e3", b"0x10", b"\xff\xfe", b"4\x002", b"1_000")
_BLOCK_LINES = 1 << 20
_DIGITS = 10
_HALF = 10**5


@functools.cache
def _half_digits() -> np.ndarray:
    """The five digit characters of every number below 100000, one row each."""
    numbers = np.arange(_HALF, dtype=np.int64)[:, None]
    return ((numbers // 10 ** np.arange(4, -1, -1)) % 10 + ord("0")).astype(np.uint8)


_WIDTHS = 10 ** np.arange(1, _DIGITS, dtype=np.int64)


def format_lines(values: np.ndarray) -> bytes:
    """Integers of at most ten digits as decimal lines, byte for byte what
    b"\\n".join(str(v).encode() for v in values) + b"\\n" writes, built in whole arrays."""
    magnitude = np.abs(values.astype(np.int64))
    width = np.searchsorted(_WIDTHS, magnitude, side="right") + 1
    grid = np.empty((len(values), _DIGITS + 2), dtype=np.uint8)
    grid[:, 0] = ord("-")
    grid[:, 1:6] = _half_digits()[magnitude // _HALF]
    grid[:, 6:11] = _half_digits()[magnitude % _HALF]
    grid[:, -1] = ord("\n")
    column = np.arange(_DIGITS + 2)
    keep = (column >= (_DIGITS + 1 - width)[:, None]) | ((column == 0) & (values < 0)[:, None])
    return grid[keep].tobytes()


def _replace_lines(data: bytes, values: np.ndarray, lines: dict[int, bytes]) -> bytes:
    """data (format_lines(values)) with the given lines' text replaced, newlines kept."""
    ends = np.cumsum(np.searchsorted(_WIDTHS, np.abs(values), side="right") + 2 + (values < 0))
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
    rng = np.random.default_rng(seed)
    special = min(lines, blank_lines + bad_lines)
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
