"""The fits solved from a Scatter: least squares, ridge, the columns a fit aliases, the averages.

Every solve works on the k x k triangle R of the centered rows instead of the n x k
data. Least squares is scikit-learn's LinearRegression solve at its cutoff; ridge
appends sqrt(alpha) times the identity to R (in the columns' own units), which is
the exact ridge solution without forming the normal equations, as scikit-learn's
Ridge gives it with its intercept (the means are taken out first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from poolpipe.train.scatter import Scatter

TOL = 1e-6
"""scikit-learn LinearRegression's default `tol`: the cutoff it gives scipy's lstsq, relative to
the largest singular value, below which a direction counts as rank deficient."""


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


def solve_scaled(scatter: Scatter, *, ridge: float = 0.0) -> tuple[np.ndarray, int]:
    """The coefficients in the held scale, and the rank the solve found."""
    p = scatter.r.shape[0] - 1
    a, b = scatter.r[:p, :p], scatter.r[:p, p]
    if ridge > 0:
        penalty = np.ldexp(np.full(p, math.sqrt(ridge)), -scatter.exponent[:p])
        a = np.vstack([a, np.diag(penalty)])
        b = np.concatenate([b, np.zeros(p)])
    coef, _, rank, _ = np.linalg.lstsq(a, b, rcond=TOL)
    return coef, int(rank)


def solve(scatter: Scatter, reference: Sequence[float], *, ridge: float = 0.0) -> Fit:
    """The least-squares (or ridge) fit of the summarised rows, on R instead of X."""
    p = scatter.r.shape[0] - 1
    e = scatter.exponent
    coef, rank = solve_scaled(scatter, ridge=ridge)
    means = scaled_means(scatter, reference)
    with np.errstate(over="ignore", invalid="ignore"):
        intercept = np.ldexp(means[p] - means[:p] @ coef, e[p])
        coef = np.ldexp(coef, e[p] - e[:p])
    return Fit(tuple(float(c) for c in coef), float(intercept), rank)


def aliased_columns(scatter: Scatter) -> list[int]:
    """Features that are (to TOL) linear combinations of the features before them."""
    p = scatter.r.shape[0] - 1
    r11 = scatter.r[:p, :p]
    if p == 0:
        return []
    largest = float(np.linalg.norm(r11, 2))
    return [j for j in range(p) if abs(r11[j, j]) <= TOL * largest]


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
