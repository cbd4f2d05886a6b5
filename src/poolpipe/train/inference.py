"""What the merged R factor says about the fit: standard errors, t, p, intervals, R², F.

Everything comes from the k x k triangle R of the centered (and, with weights,
sqrt-weighted) rows of [X y], in the held scale: the residual sum of squares is
the square of R's last diagonal entry, the total sum of squares the squared norm
of its last column, and (R11ᵀR11)⁻¹ = R11⁻¹R11⁻ᵀ the coefficients' covariance
over σ². The intercept's variance is σ²/W + x̄ᵀ Cov(b) x̄ (W: the rows' total
weight). A rank-deficient fit uses the pseudo-inverse at the solve's cutoff, as
statsmodels does, and counts only the independent directions as the model's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special
from scipy.linalg import solve_triangular

from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import TOL, scaled_means, solve_scaled


@dataclass(frozen=True)
class Design:
    """The merged fit in the held scale: what the statistics and the second pass need."""

    coef: np.ndarray
    means: np.ndarray
    inverse_root: np.ndarray
    exponent: np.ndarray
    rank: int
    rows: int
    weight: float

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom: rows less the independent directions and the intercept."""
        return self.rows - self.rank - 1

    def to_original(self, coef_scale: np.ndarray, intercept_scale: float) -> tuple[Any, Any]:
        """Per-coefficient and intercept quantities moved from the held scale to the data's."""
        e = self.exponent
        p = len(e) - 1
        with np.errstate(over="ignore", invalid="ignore"):
            return np.ldexp(coef_scale, e[p] - e[:p]), float(np.ldexp(intercept_scale, e[p]))


def design(scatter: Scatter, reference: Sequence[float]) -> Design:
    """The merged fit, and G with (R11ᵀR11)⁺ = G Gᵀ, in the held scale."""
    p = scatter.r.shape[0] - 1
    coef, rank = solve_scaled(scatter)
    r11 = scatter.r[:p, :p]
    if rank == p:
        root = solve_triangular(r11, np.eye(p), lower=False)
    else:
        root = np.linalg.pinv(r11, rcond=TOL)
    return Design(
        coef=coef,
        means=scaled_means(scatter, reference),
        inverse_root=root,
        exponent=scatter.exponent,
        rank=rank,
        rows=scatter.rows,
        weight=scatter.total_weight,
    )


def number(value: float) -> float | None:
    """A finite float, or None (JSON null) where the statistic is undefined."""
    value = float(value)
    return value if math.isfinite(value) else None


def scaled(value: float, exponent: int) -> float:
    """value * 2**exponent, inf past the float limit (a statistic that is not finite: null)."""
    with np.errstate(over="ignore"):
        return float(np.ldexp(value, exponent))


def numbers(values: Any) -> list[float | None]:
    """Finite floats, None where undefined."""
    return [number(v) for v in np.asarray(values, dtype=float).ravel()]


def coefficient_table(
    *, coef: Sequence[float], intercept: float, cov: np.ndarray, d: Design, alpha: float
) -> dict[str, Any]:
    """std_err, t, p (two-sided) and conf_int of the coefficients and the intercept.

    cov is the covariance of (intercept, coefficients) in the held scale.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scale_se = np.sqrt(np.maximum(np.diag(cov), 0))
        se_coef, se_intercept = d.to_original(scale_se[1:], scale_se[0])
        se = np.concatenate([[se_intercept], se_coef])
        est = np.concatenate([[intercept], coef])
        t = est / se
        df = d.df_resid
        p = 2 * special.stdtr(df, -np.abs(t)) if df > 0 else np.full(len(est), np.nan)
        q = special.stdtrit(df, 1 - alpha / 2) if df > 0 else np.nan
        low, high = est - q * se, est + q * se
    return {
        "std_err": {"coef": numbers(se[1:]), "intercept": number(se[0])},
        "t": {"coef": numbers(t[1:]), "intercept": number(t[0])},
        "p": {"coef": numbers(p[1:]), "intercept": number(p[0])},
        "conf_int": {
            "coef": [numbers(pair) for pair in zip(low[1:], high[1:], strict=True)],
            "intercept": numbers([low[0], high[0]]),
        },
    }


def unit_covariance(d: Design) -> np.ndarray:
    """Covariance of (intercept, coefficients) over σ², in the held scale."""
    p = len(d.coef)
    xbar = d.means[:p]
    cov_b = d.inverse_root @ d.inverse_root.T
    cov = np.empty((p + 1, p + 1))
    cov[1:, 1:] = cov_b
    cov[1:, 0] = cov[0, 1:] = -cov_b @ xbar
    cov[0, 0] = 1 / d.weight + xbar @ cov_b @ xbar
    return cov


def residual_squares(scatter: Scatter, coef: np.ndarray, rank: int) -> float:
    """The residual sum of squares of held-scale coefficients, from R alone."""
    p = len(coef)
    last = float(scatter.r[p, p]) ** 2
    if rank == p:
        return last
    top = scatter.r[:p, p] - scatter.r[:p, :p] @ coef
    return last + float(top @ top)


def fit_measures(scatter: Scatter, coef: np.ndarray, *, rank: int, rows: int) -> dict[str, Any]:
    """r2, adj_r2, rmse, f_stat, f_p, df_model, df_resid, rss, tss, n of held-scale coefficients."""
    p = len(coef)
    e_y = int(scatter.exponent[p])
    rss = residual_squares(scatter, coef, rank)
    tss = float(scatter.r[:, p] @ scatter.r[:, p])
    df_resid = rows - rank - 1
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r2 = 1 - rss / tss if tss > 0 else math.nan
        adj = 1 - (rows - 1) / df_resid * (1 - r2) if df_resid > 0 else math.nan
        f_stat = ((tss - rss) / rank) / (rss / df_resid) if rank and df_resid > 0 else math.nan
        f_p = special.fdtrc(rank, df_resid, f_stat) if math.isfinite(f_stat) else math.nan
        rmse = math.sqrt(rss / scatter.total_weight)
    return {
        "r2": number(r2),
        "adj_r2": number(adj),
        "rmse": number(scaled(rmse, e_y)),
        "f_stat": number(f_stat),
        "f_p": number(f_p),
        "df_model": rank,
        "df_resid": df_resid,
        "rss": number(scaled(rss, 2 * e_y)),
        "tss": number(scaled(tss, 2 * e_y)),
        "n": rows,
    }


def inference(
    scatter: Scatter,
    reference: Sequence[float],
    *,
    coef: Sequence[float],
    intercept: float,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The exact fit's statistics: its coefficient table and its measures of fit."""
    d = design(scatter, reference)
    sigma2 = residual_squares(scatter, d.coef, d.rank) / d.df_resid if d.df_resid > 0 else math.nan
    table = coefficient_table(
        coef=coef, intercept=intercept, cov=sigma2 * unit_covariance(d), d=d, alpha=alpha
    )
    measures = fit_measures(scatter, d.coef, rank=d.rank, rows=d.rows)
    return {"alpha": alpha, **table, **measures}


def ridge_measures(scatter: Scatter, ridge: float) -> dict[str, Any]:
    """r2, rmse and rss of the ridge fit on its own rows, from R: |R [-b; 1]|²."""
    coef, _ = solve_scaled(scatter, ridge=ridge)
    p = len(coef)
    e_y = int(scatter.exponent[p])
    resid = scatter.r @ np.concatenate([-coef, [1.0]])
    rss = float(resid @ resid)
    tss = float(scatter.r[:, p] @ scatter.r[:, p])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r2 = 1 - rss / tss if tss > 0 else math.nan
        rmse = math.sqrt(rss / scatter.total_weight)
    return {
        "r2": number(r2),
        "rmse": number(scaled(rmse, e_y)),
        "rss": number(scaled(rss, 2 * e_y)),
    }
