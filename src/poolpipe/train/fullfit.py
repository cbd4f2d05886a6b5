"""scikit-learn's fit on every good row at once: the check beside the exact merge, if asked."""

from __future__ import annotations

import os

import numpy as np
from threadpoolctl import threadpool_limits

from poolpipe.core.chunks import Range, header_end, iter_blocks
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns
from poolpipe.train.csvparse import parse_block
from poolpipe.train.fit import fit_rows
from poolpipe.train.solve import Fit

FULL_FIT_COPIES = 4.0
"""Peak memory of scikit-learn's full fit, in copies of the parsed [X y] array."""


def read_rows(columns: Columns, rows: int) -> np.ndarray:
    """Every good row of the file in one array (features, then target): for the full fit."""
    data = np.empty((rows, columns.width))
    filled = 0
    rng = Range(columns.path, header_end(columns.path), os.path.getsize(columns.path))
    for block in iter_blocks(rng):
        if block.overlong:
            continue
        values = parse_block(block.data, columns, max_examples=0).values
        if filled + len(values) > rows:
            raise PoolpipeError(f"{columns.path} changed while it was being read")
        data[filled : filled + len(values)] = values
        filled += len(values)
    if filled != rows:
        raise PoolpipeError(f"{columns.path} changed while it was being read")
    return data


def full_fit(columns: Columns, rows: int) -> Fit:
    """scikit-learn's LinearRegression on all good rows at once (one BLAS thread).

    rows counts every parsed row, those whose weight is skipped included.
    """
    from sklearn.linear_model import LinearRegression

    values, weights, _ = fit_rows(read_rows(columns, rows), columns)
    p = columns.fit_width - 1
    with threadpool_limits(limits=1), np.errstate(over="ignore", invalid="ignore"):
        model = LinearRegression().fit(values[:, :p], values[:, p], sample_weight=weights)
    return Fit(tuple(float(c) for c in model.coef_), float(model.intercept_), int(model.rank_))


def full_fit_mb(rows: int, width: int) -> float:
    """MiB the full fit is expected to need at its peak."""
    return rows * width * 8 * FULL_FIT_COPIES / 2**20
