"""The fits solved from a Scatter: least squares, ridge, the columns a fit aliases, the averages.

Every solve works on the k x k triangle R of the centered rows instead of the n x k
data. The rank is decided on R with its columns equilibrated (each divided by its
norm, the norm of the centered column), so it does not depend on the columns'
units: feature j is aliased when the part of its column that the columns kept
before it do not explain is at most RANK_TOL of its length (|r_jj| / |R e_j|,
the sine of its angle to their span). An aliased column is dropped and R is
factored again without it, so the fit, and every statistic of it, is the fit of
the kept columns (an aliased column's coefficient is 0). Least squares is then a
back substitution on the kept columns' R; ridge appends sqrt(alpha) times the
identity to R (in the columns' own units), which is the exact ridge solution
without forming the normal equations, as scikit-learn's Ridge gives it with its
intercept (the means are taken out first). bench/README.md ("Train") has the measurements
behind this choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular, svdvals

from poolpipe.train.scatter import Scatter, r_factor

TOL = 1e-6
"""scikit-learn LinearRegression's default `tol`: the cutoff the ridge solve gives lstsq."""

RANK_TOL = 1e-11
"""A feature whose centered column lies within this angle (in radians, as a sine) of the span of
the columns kept before it is aliased; independent of units. Measured on the merged R: the
smallest sine of the hardest certified design (NIST Filip, x..x¹⁰) is 6e-8, exact multiples
and sums of other columns give 2e-16 to 2e-15."""

CONDITION_WARN = 1e3
"""A condition number above this is said in model.json (statsmodels' summary warns there too)."""


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


def scaled_means(scatter: Scatter, reference: Sequence[float]) -> np.ndarray:
    """The columns' means, each in its column's held scale (divided by 2**exponent)."""
    return np.ldexp(np.asarray(reference, dtype=float), -scatter.exponent) + scatter.mean


def through_origin(scatter: Scatter, reference: Sequence[float]) -> Scatter:
    """The same rows summarised about 0 instead of their means: for a model without intercept.

    The uncentered cross-products are RᵀR + W m mᵀ (W the total weight, m the means), so the
    factor is the R of [R; sqrt(W) m]; its means are set so that scaled_means gives 0.
    """
    means = scaled_means(scatter, reference)
    stacked = np.asfortranarray(np.vstack([scatter.r, math.sqrt(scatter.total_weight) * means]))
    shift = np.ldexp(np.asarray(reference, dtype=float), -scatter.exponent)
    return Scatter(scatter.rows, -shift, r_factor(stacked), scatter.exponent, scatter.weight)


@dataclass(frozen=True)
class Kept:
    """The model actually fitted: the features kept (their indices) and their summary."""

    features: tuple[int, ...]
    scatter: Scatter
    width: int

    @property
    def aliased(self) -> list[int]:
        """The features left out, as combinations of the features kept before them."""
        kept = set(self.features)
        return [j for j in range(self.width) if j not in kept]

    @property
    def columns(self) -> list[int]:
        """Indices of the kept features and the target in the full [X y]."""
        return [*self.features, self.width]

    def condition_number(self) -> float | None:
        """The 2-norm condition number of the kept centered features, each scaled to length 1."""
        k = len(self.features)
        if k == 0:
            return None
        r11 = self.scatter.r[:k, :k]
        s = svdvals(r11 / column_norms(r11))
        return float(s[0] / s[-1]) if s[-1] > 0 else math.inf

    def expand(self, values: Sequence[Any], fill: Any) -> list[Any]:
        """Per-feature values of the kept features spread to all features, fill where aliased."""
        out = [fill] * self.width
        for j, value in zip(self.features, values, strict=True):
            out[j] = value
        return out


def column_norms(a: np.ndarray) -> np.ndarray:
    """The 2-norms of a's columns, without the underflow of squaring values near 1e-300."""
    if not a.size:
        return np.zeros(a.shape[1])
    big = np.abs(a).max(axis=0)
    safe = np.where(big > 0, big, 1.0)
    return big * np.sqrt(((a / safe) ** 2).sum(axis=0))


def _first_aliased(r11: np.ndarray, start: int) -> int | None:
    """The first column from start whose diagonal entry is at most RANK_TOL of its norm."""
    norms = column_norms(r11)
    for j in range(start, r11.shape[1]):
        # |r_jj| / |R e_j| is the sine of column j's angle to the span of the columns before
        # it, whatever its units; "not >" so that a NaN diagonal counts as aliased too
        if not abs(r11[j, j]) > RANK_TOL * norms[j]:
            return j
    return None


def kept_columns(scatter: Scatter) -> Kept:
    """The features the fit keeps, in order, and the R of the kept ones and the target.

    A dropped column is refactored away before the next test, so that no later test reads
    the direction a dependent column's rounding noise gave its Householder reflection.
    """
    p = scatter.r.shape[0] - 1
    r = scatter.r
    norms = column_norms(r[:p, :p])
    # a constant column is zero once centered: it is dropped before any angle is measured
    features = [j for j in range(p) if norms[j] > 0]
    if len(features) < p:
        r = r_factor(np.asfortranarray(r[:, [*features, p]]))
    start = 0
    while (found := _first_aliased(r[:-1, :-1], start)) is not None:
        del features[found]
        keep = [*range(found), *range(found + 1, r.shape[1])]
        r = r_factor(np.asfortranarray(r[:, keep]))
        start = found
    columns = [*features, p]
    reduced = Scatter(
        scatter.rows, scatter.mean[columns], r, scatter.exponent[columns], scatter.weight
    )
    return Kept(tuple(features), reduced, p)


def solve_kept(kept: Kept) -> np.ndarray:
    """The kept features' coefficients in the held scale: a back substitution on their R."""
    k = len(kept.features)
    r = kept.scatter.r
    return solve_triangular(r[:k, :k], r[:k, k], lower=False) if k else np.zeros(0)


def solve_ridge(scatter: Scatter, ridge: float) -> np.ndarray:
    """The ridge coefficients in the held scale."""
    p = scatter.r.shape[0] - 1
    a, b = scatter.r[:p, :p], scatter.r[:p, p]
    # the penalty is sqrt(alpha) in the data's units: a column held divided by 2**e gets
    # sqrt(alpha) / 2**e, so that the held-scale solution is the data's ridge solution
    penalty = np.ldexp(np.full(p, math.sqrt(ridge)), -scatter.exponent[:p])
    a = np.vstack([a, np.diag(penalty)])
    b = np.concatenate([b, np.zeros(p)])
    coef, _, _, _ = np.linalg.lstsq(a, b, rcond=TOL)
    return coef


def to_data_scale(
    scatter: Scatter, reference: Sequence[float], coef: np.ndarray
) -> tuple[np.ndarray, float]:
    """Held-scale coefficients of all features as the data's coefficients and intercept."""
    p = scatter.r.shape[0] - 1
    e = scatter.exponent
    means = scaled_means(scatter, reference)
    with np.errstate(over="ignore", invalid="ignore"):
        intercept = float(np.ldexp(means[p] - means[:p] @ coef, e[p]))
        return np.ldexp(coef, e[p] - e[:p]), intercept


def solve(scatter: Scatter, reference: Sequence[float], *, ridge: float = 0.0) -> Fit:
    """The least-squares (or ridge) fit of the summarised rows, on R instead of X."""
    p = scatter.r.shape[0] - 1
    if ridge > 0:
        coef, rank = solve_ridge(scatter, ridge), None
    else:
        kept = kept_columns(scatter)
        coef = np.zeros(p)
        coef[list(kept.features)] = solve_kept(kept)
        rank = len(kept.features)
    data_coef, intercept = to_data_scale(scatter, reference, coef)
    return Fit(tuple(float(c) for c in data_coef), intercept, rank)


def average(fits: Sequence[Fit], weights: Sequence[float] | None = None) -> Fit:
    """The (weighted) mean of fits, coefficient by coefficient: the article's recipe's merge."""
    coefs = np.array([f.coef for f in fits])
    intercepts = np.array([f.intercept for f in fits])
    with np.errstate(over="ignore", invalid="ignore"):
        coef = np.average(coefs, axis=0, weights=weights)
        intercept = np.average(intercepts, weights=weights)
        if not (np.isfinite(coef).all() and np.isfinite(intercept)):
            # the sum of fits near the float limit overflows before the division by their
            # count: shares first, then the sum
            shares = np.ones(len(fits)) if weights is None else np.asarray(weights, dtype=float)
            shares = shares / shares.sum()
            coef = (coefs * shares[:, None]).sum(axis=0)
            intercept = (intercepts * shares).sum()
    return Fit(tuple(float(c) for c in coef), float(intercept))
