"""The exact, mergeable least-squares summary of rows of [X y]: count, means, R factor.

Every worker streams its own byte range, parses it block by block and keeps a
Scatter: the row count, the column means and the R factor of a QR of the
centered rows of [X y], all shifted by one reference row common to the file.
Scatters merge exactly (a QR of the stacked factors plus one row for the
difference of the means), so the merged fit is the fit on all rows (solved in
train/solve.py). A column whose values pass SCALE_ABOVE is held divided by a
power of two (its exponent kept in the Scatter, so the division is exact and
merges stay exact), so that values near the float limit neither overflow nor
break the QR; ordinary columns are never scaled. Rows may carry weights
(weighted least squares): then the means are weighted, each centered row is
multiplied by the square root of its weight, and merges weigh the link row by
the parts' total weights instead of their row counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.linalg.lapack import dgeqrf

QR_ROWS = 4096
"""Rows folded in per QR: small enough for the factorisation to stay in the CPU's cache."""

SCALE_ABOVE = 2.0**256
"""A column with a value larger than this is held scaled by a power of two."""


@dataclass(frozen=True)
class Scatter:
    """A mergeable summary of rows of [X y]: count, column means, R of the centered rows.

    Column j of mean and r is held divided by 2**exponent[j] (0 unless the column is huge).
    weight is the rows' total weight, None when the rows are unweighted.
    """

    rows: int
    mean: np.ndarray
    r: np.ndarray
    exponent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    weight: float | None = None

    @property
    def total_weight(self) -> float:
        """The rows' total weight: their count when they are unweighted."""
        return float(self.rows) if self.weight is None else self.weight

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
        mean, r = np.ldexp(self.mean, shift), np.ldexp(self.r, shift)
        return Scatter(self.rows, mean, r, exponent, self.weight)

    def add(
        self,
        values: np.ndarray,
        reference: np.ndarray | None = None,
        weights: np.ndarray | None = None,
    ) -> Scatter:
        """This summary with the rows of a 2-D array added, QR_ROWS rows per factorisation.

        With reference, values are raw rows (scaled and shifted here, in place); without it
        they are rows already shifted by the reference. weights (all above 0) weigh the rows.
        """
        shift = np.zeros(values.shape[1]) if reference is None else reference
        # a column only ever grows its exponent: the rows held so far are rescaled exactly
        # (a power of two), never the new rows rounded to the old scale
        exponent = np.maximum(self.exponent, _exponents(values, shift))
        scatter = self.rescaled(exponent)
        if exponent.any():
            np.ldexp(values, -exponent, out=values)
            shift = np.ldexp(shift, -exponent)
        if reference is not None:
            # subtracting one row common to the whole file keeps the digits that large
            # offsets (a year, a coordinate) would cost the centering, and is the same in
            # every chunk, so the parts still merge exactly
            values -= shift
        if weights is not None and self.weight is None:
            scatter = replace(scatter, weight=float(scatter.rows))
        # QR_ROWS rows per QR: each is copied into the stacked array, which then stays in the
        # CPU's cache; one QR of a whole block would be as exact, only slower. Each block is
        # summarised on its own and the summaries merged pairwise (see Pairwise).
        start = Scatter(0, np.zeros(len(exponent)), np.zeros_like(scatter.r), exponent)
        start = start if weights is None else replace(start, weight=0.0)
        merged = Pairwise()
        for at in range(0, len(values), QR_ROWS):
            block = values[at : at + QR_ROWS]
            merged.push(start._add(block, None if weights is None else weights[at : at + QR_ROWS]))
        return scatter.merge(merged.total()) if merged else scatter

    def _add(self, block: np.ndarray, weights: np.ndarray | None) -> Scatter:
        """One QR of [R; block - its mean; the link row]: the merge of self and the block."""
        m, width = block.shape
        own = self.total_weight
        if weights is None:
            added = float(m)
        else:
            with np.errstate(over="ignore"):  # weights past the float limit: model.py says so
                added = float(weights.sum())
        total = own + added
        # numpy sums the rows of a C-ordered block one after another (its pairwise summation
        # runs along the contiguous axis): a column's mean over 4096 rows drifted 9e-14, so
        # each column is summed contiguously. The weights divide first: a product of weights
        # near 1e305 and values overflows where the weighted mean does not.
        if weights is None:
            block_mean = np.ascontiguousarray(block.T).mean(axis=1)
        else:
            block_mean = (weights / added) @ block
        delta = block_mean - self.mean
        # the R of the union of two centered sets is the R of [R_a; R_b; link], where the
        # link row sqrt(n_a n_b / n) (mean_b - mean_a) carries what the two means differ by
        # (Chan et al.'s update for the cross-products, done on R, never on RᵀR, so the
        # condition number is not squared as the normal equations would square it)
        stacked = np.empty((width + m + 1, width), order="F")
        stacked[:width] = self.r
        np.subtract(block, block_mean, out=stacked[width : width + m])
        if weights is not None:
            stacked[width : width + m] *= np.sqrt(weights)[:, None]
        stacked[-1] = delta * _link(own, added, total, weights is not None)
        weight = None if self.weight is None else total
        mean = self.mean + delta * (added / total)
        return Scatter(self.rows + m, mean, r_factor(stacked), self.exponent, weight)

    def merge(self, other: Scatter) -> Scatter:
        """The summary of both sets of rows: exact, whatever their sizes."""
        if other.rows == 0:
            return self
        if self.rows == 0:
            return other
        exponent = np.maximum(self.exponent, other.exponent)
        a, b = self.rescaled(exponent), other.rescaled(exponent)
        wa, wb = a.total_weight, b.total_weight
        total = wa + wb
        delta = b.mean - a.mean
        mean = a.mean + delta * (wb / total)
        # as in _add: what the two means differ by
        link = delta * _link(wa, wb, total, a.weight is not None or b.weight is not None)
        stacked = np.asfortranarray(np.vstack([a.r, b.r, link]))
        weight = None if a.weight is None and b.weight is None else total
        return Scatter(a.rows + b.rows, mean, r_factor(stacked), exponent, weight)


class Pairwise:
    """Scatters merged as they come, pairwise like a binary counter: each merge is of two
    summaries of about the same size, so n of them merge through log2(n) levels of rounding,
    not one running summary's n. On the demo's 2 million rows in one chunk, a running summary's
    slope was 4.5e-14 off the exact fit's (relative); the pairwise merge's is 9e-16 off."""

    def __init__(self) -> None:
        self._levels: list[tuple[int, Scatter]] = []

    def __bool__(self) -> bool:
        return bool(self._levels)

    def push(self, scatter: Scatter) -> None:
        """Add the summary of the rows after those pushed so far."""
        level = 0
        while self._levels and self._levels[-1][0] == level:
            scatter = self._levels.pop()[1].merge(scatter)
            level += 1
        self._levels.append((level, scatter))

    def total(self) -> Scatter:
        """The summary of every row pushed (push at least one first)."""
        levels = [s for _, s in self._levels]
        while len(levels) > 1:
            levels[-2:] = [levels[-2].merge(levels[-1])]
        return levels[0]


def _link(a: float, b: float, total: float, weighted: bool) -> float:
    """sqrt(a b / total), the link row's factor; weights (any size, 1e-300 to 1e300) divide
    before they multiply, so that the product neither overflows nor underflows."""
    return math.sqrt(a / total * b) if weighted else math.sqrt(a * b / total)


def _exponents(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per column, the power of two that brings its largest value to at most 1, or 0 if small."""
    if not len(values):
        return np.zeros(values.shape[1], dtype=np.int64)
    largest = np.maximum.reduce([values.max(axis=0), -values.min(axis=0), np.abs(reference)])
    return np.where(largest > SCALE_ABOVE, np.frexp(largest)[1], 0).astype(np.int64)


def r_factor(a: np.ndarray) -> np.ndarray:
    """The R of a Householder QR of a Fortran-ordered array (overwritten), as a square."""
    # LAPACK's dgeqrf directly: numpy.linalg.qr copies its argument first, while this array is
    # scratch (built Fortran-ordered for the call), so LAPACK may overwrite it in place
    qr, _, _, info = dgeqrf(a, overwrite_a=1)
    if info != 0:
        raise RuntimeError(f"LAPACK dgeqrf failed with info={info}")
    width = a.shape[1]
    r = np.zeros((width, width))
    top = min(width, qr.shape[0])  # fewer rows than columns: the missing rows of R are zero
    r[:top] = np.triu(qr[:top])
    return r
