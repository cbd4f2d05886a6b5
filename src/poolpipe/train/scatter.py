"""The exact, mergeable least-squares summary of rows of [X y], and the fits solved from it.

Every worker streams its own byte range, parses it block by block and keeps a
Scatter: the row count, the column means and the R factor of a QR of the
centered rows of [X y], all shifted by one reference row common to the file.
Scatters merge exactly (a QR of the stacked factors plus one row for the
difference of the means), so the merged fit is the fit on all rows: the same
least-squares solve scikit-learn does, at scikit-learn's cutoff, on a k x k
triangle instead of the n x k data. A column whose values pass SCALE_ABOVE is
held divided by a power of two (its exponent kept in the Scatter, so the
division is exact and merges stay exact), so that values near the float limit
neither overflow nor break the QR; ordinary columns are never scaled. The seed
recipe's fit per chunk, averaged, is kept beside it (plain and weighted by rows) with its error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg.lapack import dgeqrf

TOL = 1e-6
"""scikit-learn LinearRegression's default `tol`: the cutoff it gives scipy's lstsq, relative to
the largest singular value, below which a direction counts as rank deficient."""

QR_ROWS = 4096
"""Rows folded in per QR: small enough for the factorisation to stay in the CPU's cache."""

SCALE_ABOVE = 2.0**256
"""A column with a value larger than this is held scaled by a power of two."""


@dataclass(frozen=True)
class Scatter:
    """A mergeable summary of rows of [X y]: count, column means, R of the centered rows.

    Column j of mean and r is held divided by 2**exponent[j] (0 unless the column is huge).
    """

    rows: int
    mean: np.ndarray
    r: np.ndarray
    exponent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        if len(self.exponent) != len(self.mean):
            object.__setattr__(self, "exponent", np.zeros(len(self.mean), dtype=np.int64))

    @classmethod
    def empty(cls, width: int) -> Scatter:
        """The summary of no rows."""
        return cls(0, np.zeros(width), np.zeros((width, width)))

    @classmethod
    def of(cls, values: np.ndarray) -> Scatter:
        """The summary of the rows of a 2-D array."""
        return cls.empty(values.shape[1]).add(values)

    def rescaled(self, exponent: np.ndarray) -> Scatter:
        """The same summary held at exponents at least as large as its own (exact)."""
        if np.array_equal(exponent, self.exponent):
            return self
        shift = self.exponent - exponent
        return Scatter(self.rows, np.ldexp(self.mean, shift), np.ldexp(self.r, shift), exponent)

    def add(self, values: np.ndarray, reference: np.ndarray | None = None) -> Scatter:
        """This summary with the rows of a 2-D array added, QR_ROWS rows per factorisation.

        With reference, values are raw rows (scaled and shifted here, in place); without it
        they are rows already shifted by the reference.
        """
        shift = np.zeros(values.shape[1]) if reference is None else reference
        exponent = np.maximum(self.exponent, _exponents(values, shift))
        scatter = self.rescaled(exponent)
        if exponent.any():
            np.ldexp(values, -exponent, out=values)
            shift = np.ldexp(shift, -exponent)
        if reference is not None:
            values -= shift
        for start in range(0, len(values), QR_ROWS):
            scatter = scatter._add(values[start : start + QR_ROWS])
        return scatter

    def _add(self, block: np.ndarray) -> Scatter:
        """One QR of [R; block - its mean; the link row]: the merge of self and the block."""
        m, width = block.shape
        n = self.rows + m
        block_mean = block.mean(axis=0)
        delta = block_mean - self.mean
        stacked = np.empty((width + m + 1, width), order="F")
        stacked[:width] = self.r
        np.subtract(block, block_mean, out=stacked[width : width + m])
        stacked[-1] = delta * math.sqrt(self.rows * m / n)
        return Scatter(n, self.mean + delta * (m / n), _r_factor(stacked), self.exponent)

    def merge(self, other: Scatter) -> Scatter:
        """The summary of both sets of rows: exact, whatever their sizes."""
        if other.rows == 0:
            return self
        if self.rows == 0:
            return other
        exponent = np.maximum(self.exponent, other.exponent)
        a, b = self.rescaled(exponent), other.rescaled(exponent)
        n = a.rows + b.rows
        delta = b.mean - a.mean
        mean = a.mean + delta * (b.rows / n)
        link = delta * math.sqrt(a.rows * b.rows / n)
        stacked = np.asfortranarray(np.vstack([a.r, b.r, link]))
        return Scatter(n, mean, _r_factor(stacked), exponent)


def _exponents(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per column, the power of two that brings its largest value to at most 1, or 0 if small."""
    if not len(values):
        return np.zeros(values.shape[1], dtype=np.int64)
    largest = np.maximum.reduce([values.max(axis=0), -values.min(axis=0), np.abs(reference)])
    return np.where(largest > SCALE_ABOVE, np.frexp(largest)[1], 0).astype(np.int64)


def _r_factor(a: np.ndarray) -> np.ndarray:
    """The R of a Householder QR of a Fortran-ordered array (overwritten), as a square."""
    qr, _, _, info = dgeqrf(a, overwrite_a=1)
    if info != 0:
        raise RuntimeError(f"LAPACK dgeqrf failed with info={info}")
    width = a.shape[1]
    r = np.zeros((width, width))
    top = min(width, qr.shape[0])
    r[:top] = np.triu(qr[:top])
    return r


@dataclass(frozen=True)
class Fit:
    """Coefficients and intercept of a linear model (rank: of the centered features, if known)."""

    coef: tuple[float, ...]
    intercept: float
    rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data: dict[str, Any] = {"coef": list(self.coef), "intercept": self.intercept}
        if self.rank is not None:
            data["rank"] = self.rank
        return data


def solve(scatter: Scatter, reference: Sequence[float]) -> Fit:
    """The least-squares fit of the summarised rows: scikit-learn's solve, on R instead of X."""
    p = scatter.r.shape[0] - 1
    e = scatter.exponent
    coef, _, rank, _ = np.linalg.lstsq(scatter.r[:p, :p], scatter.r[:p, p], rcond=TOL)
    means = np.ldexp(np.asarray(reference, dtype=float), -e) + scatter.mean
    with np.errstate(over="ignore", invalid="ignore"):
        intercept = np.ldexp(means[p] - means[:p] @ coef, e[p])
        coef = np.ldexp(coef, e[p] - e[:p])
    return Fit(tuple(float(c) for c in coef), float(intercept), int(rank))


def average(fits: Sequence[Fit], weights: Sequence[float] | None = None) -> Fit:
    """The (weighted) mean of fits, coefficient by coefficient: the seed recipe's merge."""
    coefs = np.array([f.coef for f in fits])
    intercepts = np.array([f.intercept for f in fits])
    with np.errstate(over="ignore", invalid="ignore"):
        coef = np.average(coefs, axis=0, weights=weights)
        intercept = np.average(intercepts, weights=weights)
        if not (np.isfinite(coef).all() and np.isfinite(intercept)):
            shares = np.ones(len(fits)) if weights is None else np.asarray(weights, dtype=float)
            shares = shares / shares.sum()
            coef = (coefs * shares[:, None]).sum(axis=0)
            intercept = (intercepts * shares).sum()
    return Fit(tuple(float(c) for c in coef), float(intercept))
