"""One step of iterative refinement: a second pass where the first pass's digits may fall short.

A least-squares solution from a backward-stable QR in doubles is accurate to about
eps·(κ + κ²·tanθ) (κ the condition number of the equilibrated design, θ the angle
between y and the fitted values): on a large-residual fit such as NIST Wampler5
that leaves 6 or 7 digits. One step of refinement recovers the rest: the rows are
read once more, through the pool as the first pass, and each worker sums in
extended precision (numpy's longdouble) the residuals r = y - a - x b of the
current fit and their products with the centered rows; the correction solves the
normal equations of those sums with the merged R (the corrected seminormal
equations). The step contracts the error by about eps·κ², so it runs only where
that is small and where the estimate says digits are missing: a well-conditioned
fit (the demo, most data) is never read twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from poolpipe.core.chunks import Range, pieces_for
from poolpipe.core.pool import pool_map, serial_map
from poolpipe.train.columns import Columns
from poolpipe.train.fit import good_rows
from poolpipe.train.inference import Design

EPS = float(np.finfo(float).eps)
WANTED = 1e-13
"""Refine when the first pass's coefficients may be off by more than this, relatively."""
CONTRACTION = 1e-3
"""...and only where one step contracts the error at least this much (eps·κ² below it)."""


def needs_refinement(d: Design, condition: float | None) -> bool:
    """Whether the error estimate eps·(κ + κ²·tanθ) asks for a step, and the step converges."""
    if condition is None or not math.isfinite(condition) or d.df_resid <= 0:
        return False
    r = d.kept.scatter.r
    k = d.rank
    rss = float(r[k, k]) ** 2
    explained = float(r[:k, k] @ r[:k, k])
    tan = math.sqrt(rss / explained) if explained > 0 else math.inf
    estimate = EPS * (condition + condition * condition * tan)
    return estimate > WANTED and EPS * condition * condition < CONTRACTION


@dataclass(frozen=True)
class RefinePass:
    """A worker's share of the step: sums over its rows, in longdouble."""

    columns: Columns
    design: Design
    intercept: np.longdouble
    coef: np.ndarray

    def __call__(self, rng: Range) -> np.ndarray:
        """[Σw r, Σw (x-m) r, Σw (x-m)] over the good rows of one range (x, m held scale)."""
        d = self.design
        k = d.rank
        cols = d.kept.columns
        mean = d.means[:k].astype(np.longdouble)
        sums = np.zeros(1 + 2 * k, dtype=np.longdouble)
        with threadpool_limits(limits=1):
            for values, weights in good_rows(rng, self.columns):
                v = np.ldexp(values[:, cols].astype(np.longdouble), -d.exponent)
                x = v[:, :k] - mean
                resid = v[:, k] - self.intercept - v[:, :k] @ self.coef
                if weights is not None:
                    resid *= weights
                    sums[1 + k :] += weights @ x
                else:
                    sums[1 + k :] += x.sum(axis=0)
                sums[0] += resid.sum()
                sums[1 : 1 + k] += resid @ x
        return sums


def refine(
    ranges: Sequence[Range],
    columns: Columns,
    d: Design,
    *,
    processes: int,
) -> tuple[np.ndarray, float]:
    """The refined kept coefficients and intercept in the data's scale, after one step."""
    k = d.rank
    e = d.exponent
    coef = d.coef.astype(np.longdouble)
    means = d.means.astype(np.longdouble)
    intercept = means[k] - means[:k] @ coef if d.intercept else np.longdouble(0)
    job = RefinePass(columns, d, intercept, coef)
    tasks = [piece for rng in ranges for piece in pieces_for(rng, processes)]
    if processes == 1:
        results = serial_map(job, tasks)
    else:
        results = pool_map(job, tasks, processes, describe=_describe)
    sums = np.sum(list(results), axis=0)
    g0, g1, s = sums[0], sums[1 : 1 + k], sums[1 + k :]
    gram_inverse = d.inverse_root @ d.inverse_root.T
    if d.intercept:
        rhs = g1 - s * (g0 / np.longdouble(d.weight))
        step = gram_inverse @ rhs.astype(float)
        coef = coef + step
        shift = (g0 - s @ step.astype(np.longdouble)) / np.longdouble(d.weight)
        intercept = intercept + shift - means[:k] @ step.astype(np.longdouble)
    else:
        coef = coef + gram_inverse @ g1.astype(float)
    with np.errstate(over="ignore", invalid="ignore"):
        data_coef = np.ldexp(coef, (e[k] - e[:k]).astype(int)).astype(float)
        data_intercept = float(np.ldexp(intercept, int(e[k])))
    return data_coef, data_intercept


def _describe(rng: Range) -> str:
    return f"{rng.label()} (refinement)"
