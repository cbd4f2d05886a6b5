"""The deterministic demo training CSV, made from a seed so a bare run needs no data."""

from __future__ import annotations

import os

import numpy as np

from poolpipe.core.outputs import open_atomic
from poolpipe.errors import PoolpipeError

TRAIN_DECIMALS = 6
"""Decimals of every value in the demo training file."""

_TRAIN_BLOCK_ROWS = 1 << 16


def _bad_fields(fields: list[str], kind: int) -> list[str]:
    """One of five ways a demo training row goes bad: empty, NA, text, a missing field, 1.2.3."""
    out = list(fields)
    if kind == 0:
        out[0] = ""
    elif kind == 1:
        out[-1] = "NA"
    elif kind == 2:
        out[0] = "n/a"
    elif kind == 3:
        out.pop()
    else:
        out[-1] = "1.2.3"
    return out


def train_header(features: int) -> list[str]:
    """Column names of the demo training file: x1..xN, then y."""
    return [f"x{i + 1}" for i in range(features)] + ["y"]


def write_train(
    path: str | os.PathLike[str],
    rows: int,
    *,
    seed: int,
    coef: list[float],
    intercept: float,
    noise: float,
    bad_rows: int = 0,
) -> int:
    """Write the demo training CSV: x ~ U(0, 1), y = x @ coef + intercept + N(0, noise); its size.

    bad_rows of the rows, chosen by the seed, are made unusable to show the reporting.
    """
    if bad_rows > rows:
        raise PoolpipeError(f"{bad_rows:,} bad rows do not fit in {rows:,} rows")
    rng = np.random.default_rng(seed)
    width = len(coef) + 1
    special = bad_rows
    where = sorted(int(i) for i in rng.choice(rows, size=special, replace=False)) if special else []
    kind = {index: k % 5 for k, index in enumerate(where)}
    fmt = ",".join([f"%.{TRAIN_DECIMALS}f"] * width) + "\n"
    weights = np.asarray(coef, dtype=float)
    size = 0
    with open_atomic(path) as fh:
        head = (",".join(train_header(len(coef))) + "\n").encode()
        fh.write(head)
        size += len(head)
        for first in range(0, rows, _TRAIN_BLOCK_ROWS):
            count = min(_TRAIN_BLOCK_ROWS, rows - first)
            x = rng.random((count, len(coef)))
            y = x @ weights + intercept + rng.standard_normal(count) * noise
            text = (fmt * count) % tuple(np.column_stack([x, y]).ravel().tolist())
            bad = [i for i in where if first <= i < first + count]
            if bad:
                lines = text.split("\n")
                for index in bad:
                    fields = lines[index - first].split(",")
                    lines[index - first] = ",".join(_bad_fields(fields, kind[index]))
                text = "\n".join(lines)
            data = text.encode()
            fh.write(data)
            size += len(data)
    return size
