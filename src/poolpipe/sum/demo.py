"""The deterministic demo numbers file, made from a seed so a bare run needs no data."""

from __future__ import annotations

import os

import numpy as np

from poolpipe.core.outputs import open_atomic

NUMBER_BOUND = 9_999_999_999
"""Demo numbers are uniform in [-NUMBER_BOUND, NUMBER_BOUND]: signed, up to ten digits."""

BAD_SAMPLES = (b"twelve", b"1.5", b"1e3", b"0x10", b"\xff\xfe", b"4\x002", b"1_000")
_BLOCK_LINES = 1 << 20


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
            out = [str(v).encode() for v in values.tolist()]
            for index in (i for i in where if first <= i < first + count):
                out[index - first] = replace[index]
            data = b"\n".join(out) + b"\n"
            fh.write(data)
            size += len(data)
    return size
