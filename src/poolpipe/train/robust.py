"""Robust standard errors (HC0-HC3): a second pass over the rows, through the same pool.

The residuals need the merged coefficients, so the rows are read once more, each
worker streaming its own byte range in blocks as the first pass does. A worker
sums, over its rows, s_i u_i u_iᵀ with u_i = [1, x_i - x̄] in the held scale and
s_i = w_i² e_i² (over 1 - h_i for HC2, its square for HC3), h_i = w_i (1/W +
|(x_i - x̄) G|²) the leverage from the merged R (G Gᵀ = (R11ᵀR11)⁺). The sums
merge by addition; the sandwich B M B with B = diag(1/W, G Gᵀ) is moved from the
centered intercept to the data's intercept, as statsmodels' HC0_se..HC3_se give it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from poolpipe.core.chunks import Range, pieces_for
from poolpipe.core.pool import pool_map, serial_map
from poolpipe.train.columns import Columns
from poolpipe.train.fit import good_rows
from poolpipe.train.inference import Design

KINDS = ("hc0", "hc1", "hc2", "hc3")
"""The robust covariances train.robust may name (besides "none")."""


@dataclass(frozen=True)
class RobustPass:
    """What a worker of the second pass needs: the columns, the merged fit and the kind."""

    columns: Columns
    design: Design
    kind: str

    def __call__(self, rng: Range) -> np.ndarray:
        """The sums of s_i u_i u_iᵀ over the good rows of one range."""
        d = self.design
        p = len(d.coef)
        cols = d.kept.columns
        reference = np.asarray(self.columns.reference, dtype=float)[cols]
        shift = np.ldexp(reference, -d.exponent)
        centre = d.means - shift
        meat = np.zeros((p + 1, p + 1))
        with threadpool_limits(limits=1), np.errstate(divide="ignore", invalid="ignore"):
            for values, weights in good_rows(rng, self.columns):
                v = values[:, cols]
                if d.exponent.any():
                    v = np.ldexp(v, -d.exponent)
                v -= shift
                v -= centre
                x = v[:, :p]
                resid = v[:, p] - x @ d.coef
                s = resid * resid
                if weights is not None:
                    s *= weights * weights
                if self.kind in ("hc2", "hc3"):
                    spread = x @ d.inverse_root
                    lev = 1 / d.weight + np.einsum("ij,ij->i", spread, spread)
                    if weights is not None:
                        lev *= weights
                    s /= (1 - lev) if self.kind == "hc2" else (1 - lev) ** 2
                scaled = x * s[:, None]
                meat[0, 0] += s.sum()
                meat[0, 1:] += scaled.sum(axis=0)
                meat[1:, 1:] += scaled.T @ x
        meat[1:, 0] = meat[0, 1:]
        return meat


def robust_sums(
    ranges: Sequence[Range], job: RobustPass, *, processes: int, serial: bool = False
) -> np.ndarray:
    """The second pass over every range, its pieces run by the pool: the summed middle matrix."""
    tasks = [piece for rng in ranges for piece in pieces_for(rng, processes)]
    if serial or processes == 1:
        results = serial_map(job, tasks)
    else:
        results = pool_map(job, tasks, processes, describe=_describe)
    p = len(job.design.coef)
    total = np.zeros((p + 1, p + 1))
    for meat in results:
        total += meat
    return total


def _describe(rng: Range) -> str:
    return f"{rng.label()} (robust errors)"


def robust_covariance(d: Design, meat: np.ndarray, kind: str) -> np.ndarray:
    """The sandwich covariance of (intercept, coefficients) in the held scale."""
    p = len(d.coef)
    bread = np.zeros((p + 1, p + 1))
    bread[0, 0] = 1 / d.weight
    bread[1:, 1:] = d.inverse_root @ d.inverse_root.T
    centred = bread @ meat @ bread
    if kind == "hc1":
        centred = centred * (d.rows / d.df_resid) if d.df_resid > 0 else centred * np.nan
    move = np.eye(p + 1)
    move[0, 1:] = -d.means[:p]
    return move @ centred @ move.T
