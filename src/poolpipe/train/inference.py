"""What the merged R factor says about the fit: standard errors, t, p, intervals, R², F.

Everything comes from the k x k triangle R of the centered (and, with weights,
sqrt-weighted) rows of [X y], in the held scale: the residual sum of squares is
the square of R's last diagonal entry, the total sum of squares the squared norm
of its last column, and (R11ᵀR11)⁻¹ = R11⁻¹R11⁻ᵀ the coefficients' covariance
over σ². The intercept's variance is σ²/W + x̄ᵀ Cov(b) x̄ (W: the rows' total
weight). A rank-deficient fit is the fit of its kept columns (train/solve.py):
its statistics are those of that model, and an aliased column's cells are null.
A model without intercept is summarised about 0 (solve.through_origin): its R²
is then the uncentered one, as statsmodels and the NIST certified values give it.
Robust (HC0-HC3) errors are those of the sandwich (R11ᵀR11)⁻¹ M (R11ᵀR11)⁻¹, M the
middle sums a second pass over the rows gives (train/fit.py), taken over the rows' x G
(G = R11⁻¹) so that the design's conditioning is not squared, and moved from the centered
intercept to the data's, as statsmodels' HC0_se..HC3_se give them.
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
from poolpipe.train.solve import (
    Kept,
    column_norms,
    kept_columns,
    scaled_means,
    solve_kept,
    solve_ridge,
)

KINDS = ("hc0", "hc1", "hc2", "hc3")
"""The robust covariances train.robust may name (besides "none")."""

CONSTANT_TARGET = "the target is constant: it varies by nothing"
"""Why R² is undefined where the target's sum of squares (about its mean, or 0) is 0."""


@dataclass(frozen=True)
class Design:
    """The merged fit of the kept columns in the held scale: what the statistics and the second
    pass need (means and exponent of the kept features and the target)."""

    coef: np.ndarray
    means: np.ndarray
    inverse_root: np.ndarray
    exponent: np.ndarray
    rank: int
    rows: int
    weight: float
    kept: Kept
    intercept: bool = True

    @property
    def residual_exponent(self) -> int:
        """The power of two of the residuals' size in the held scale, sqrt(RSS / W): the robust
        pass divides them by it before squaring, so that residuals below 1e-154 neither square
        to 0 nor to subnormal numbers of few digits (robust_errors multiplies it back in)."""
        size = abs(float(self.kept.scatter.r[self.rank, self.rank])) / math.sqrt(self.weight)
        return math.frexp(size)[1] if size > 0 and math.isfinite(size) else 0

    @property
    def weight_exponent(self) -> int:
        """The power of two of √(W / n), the root of the mean weight (0 without weights): the
        robust pass holds the rows' x G times it, so that weights near 1e300 (x G near 1e-150)
        leave their products in range."""
        return math.frexp(math.sqrt(self.weight / self.rows))[1] if self.rows else 0

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom: rows less the kept columns and the intercept."""
        return self.rows - self.rank - int(self.intercept)

    def to_original(self, coef_scale: np.ndarray, intercept_scale: float) -> tuple[Any, Any]:
        """Per-coefficient and intercept quantities moved from the held scale to the data's."""
        e = self.exponent
        p = len(e) - 1
        with np.errstate(over="ignore", invalid="ignore"):
            return np.ldexp(coef_scale, e[p] - e[:p]), float(np.ldexp(intercept_scale, e[p]))


def design(scatter: Scatter, reference: Sequence[float], *, intercept: bool = True) -> Design:
    """The merged fit of the kept columns, and G = R11⁻¹ (so (R11ᵀR11)⁻¹ = G Gᵀ), held scale."""
    kept = kept_columns(scatter)
    k = len(kept.features)
    r11 = kept.scatter.r[:k, :k]
    root = solve_triangular(r11, np.eye(k), lower=False) if k else np.zeros((0, 0))
    reference = [reference[c] for c in kept.columns]
    return Design(
        coef=solve_kept(kept),
        means=scaled_means(kept.scatter, reference),
        inverse_root=root,
        exponent=kept.scatter.exponent,
        rank=k,
        rows=scatter.rows,
        weight=scatter.total_weight,
        kept=kept,
        intercept=intercept,
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
    *, coef: Sequence[float], intercept: float, errors: np.ndarray, d: Design, alpha: float
) -> dict[str, Any]:
    """std_err, t, p (two-sided) and conf_int of the coefficients and the intercept.

    coef are the kept features' coefficients; errors the standard errors of (intercept, kept
    coefficients) in the held scale. Aliased features (and a left-out intercept) get nulls, and
    so does every statistic of an error past the float range (never a t of 0).
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        se_coef, se_intercept = d.to_original(errors[1:], errors[0])
        se = np.concatenate([[se_intercept if d.intercept else math.nan], se_coef])
        se[np.isinf(se)] = math.nan
        est = np.concatenate([[intercept], coef])
        t = est / se
        df = d.df_resid
        p = 2 * special.stdtr(df, -np.abs(t)) if df > 0 else np.full(len(est), np.nan)
        # the quantile from the lower tail: 1 - alpha / 2 rounds to 1 for a tiny alpha
        q = -special.stdtrit(df, alpha / 2) if df > 0 else np.nan
        low, high = est - q * se, est + q * se
    pairs = [numbers(pair) for pair in zip(low[1:], high[1:], strict=True)]
    return {
        "std_err": {"coef": d.kept.expand(numbers(se[1:]), None), "intercept": number(se[0])},
        "t": {"coef": d.kept.expand(numbers(t[1:]), None), "intercept": number(t[0])},
        "p": {"coef": d.kept.expand(numbers(p[1:]), None), "intercept": number(p[0])},
        "conf_int": {
            "coef": d.kept.expand(pairs, [None, None]),
            "intercept": numbers([low[0], high[0]]),
        },
    }


def unit_errors(d: Design) -> np.ndarray:
    """The standard errors of (intercept, coefficients) over sigma, in the held scale: the square
    roots of the diagonal of their covariance over sigma squared, taken as norms of G's rows (and
    of [1/√W, x̄ᵀG] for the intercept), so that no square of an entry leaves the float range."""
    g = d.inverse_root
    p = len(d.coef)
    with np.errstate(over="ignore", invalid="ignore"):
        coef = column_norms(g.T) if p else np.zeros(0)
        if not d.intercept:
            return np.concatenate([[0.0], coef])
        row = np.concatenate([[1 / math.sqrt(d.weight)], d.means[:p] @ g])
    return np.concatenate([column_norms(row[:, None]), coef])


def fit_measures(d: Design) -> dict[str, Any]:
    """r2, adj_r2, rmse, f_stat, f_p, df_model, df_resid, rss, tss, n of the kept columns' fit.

    From their R alone: the residual sum of squares is the square of its last diagonal entry,
    the total sum of squares (about the mean, or about 0 without intercept) the squared norm of
    its last column.
    """
    r = d.kept.scatter.r
    k = d.rank
    e_y = int(d.exponent[k])
    # the norms first: their squares pass the float range with large weights (1e305)
    residual, total = abs(float(r[k, k])), float(column_norms(r[:, k : k + 1])[0])
    with np.errstate(over="ignore"):
        rss, tss = float(np.float64(residual) ** 2), float(np.float64(total) ** 2)
    df_resid = d.df_resid
    undefined = {}
    if total <= 0:
        undefined["r2"] = undefined["adj_r2"] = CONSTANT_TARGET
    if df_resid <= 0:
        undefined["adj_r2"] = undefined["f_stat"] = "no residual degrees of freedom are left"
    elif not k:
        undefined["f_stat"] = "the model has no feature to test"
    elif residual <= 0:
        undefined["f_stat"] = "the fit is perfect: no residual variance to compare with"
    undefined.setdefault("f_p", undefined.get("f_stat", ""))
    r2 = adj = f_stat = f_p = math.nan
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if "r2" not in undefined:
            r2 = 1 - (residual / total) ** 2
        if "adj_r2" not in undefined:
            adj = 1 - (d.rows - int(d.intercept)) / df_resid * (1 - r2)
        if "f_stat" not in undefined:
            # from the norms' ratio: their squares may not fit in a float
            f_stat = float((np.float64(total / residual) ** 2 - 1) * df_resid / k)
            f_p = special.fdtrc(k, df_resid, f_stat) if math.isfinite(f_stat) else 0.0
            if not math.isfinite(f_stat):
                undefined["f_stat"] = "the fit is all but perfect: F passes the float range"
        rmse = residual / math.sqrt(d.weight)
    return {
        "r2": number(r2),
        "adj_r2": number(adj),
        "rmse": number(scaled(rmse, e_y)),
        "f_stat": number(f_stat),
        "f_p": number(f_p),
        "df_model": k,
        "df_resid": df_resid,
        "rss": number(scaled(rss, 2 * e_y)),
        "tss": number(scaled(tss, 2 * e_y)),
        "n": d.rows,
        "undefined": {name: why for name, why in undefined.items() if why},
    }


def residual_sd(d: Design) -> float | None:
    """The residual standard deviation: sqrt(RSS / df_resid), null without residual freedom."""
    r = d.kept.scatter.r
    k = d.rank
    if d.df_resid <= 0:
        return None
    return number(scaled(abs(float(r[k, k])) / math.sqrt(d.df_resid), int(d.exponent[k])))


def zero_error(perfect: bool) -> str:
    """Why a t is null beside a standard error of 0: a perfect fit, or an error underflowed."""
    why = "0 (a perfect fit)" if perfect else "below the float range (about 1e-308)"
    return f"a standard error is {why}: its t is infinite (p 0), or 0 / 0 for a coefficient of 0"


def inference(
    d: Design, *, coef: Sequence[float], intercept: float, alpha: float = 0.05
) -> dict[str, Any]:
    """The exact fit's statistics: its coefficient table and its measures of fit."""
    r = d.kept.scatter.r
    k = d.rank
    sigma = abs(float(r[k, k])) / math.sqrt(d.df_resid) if d.df_resid > 0 else math.nan
    kept_coef = [coef[j] for j in d.kept.features]
    with np.errstate(over="ignore", invalid="ignore"):
        errors = sigma * unit_errors(d)
    table = coefficient_table(coef=kept_coef, intercept=intercept, errors=errors, d=d, alpha=alpha)
    measures = fit_measures(d)
    errs = [*table["std_err"]["coef"], table["std_err"]["intercept"]]
    ends = [*table["conf_int"]["coef"], table["conf_int"]["intercept"]]
    if d.df_resid <= 0:
        measures["undefined"]["residual_sd"] = "no residual degrees of freedom are left"
        measures["undefined"]["std_err"] = (
            "no residual degrees of freedom are left: no standard error, t, p or interval"
        )
    elif 0 in errs:
        measures["undefined"]["t"] = zero_error(sigma == 0)
    if any(e is not None and None in pair for e, pair in zip(errs, ends, strict=True)):
        # a tiny alpha's quantile (6e299 at 1e-300 and one degree of freedom) times an error
        measures["undefined"]["conf_int"] = f"at alpha {alpha:g} an interval passes the float range"
    return {"alpha": alpha, **table, **measures, "residual_sd": residual_sd(d)}


def ridge_measures(scatter: Scatter, ridge: float) -> dict[str, Any]:
    """r2, rmse and rss of the ridge fit on its own rows, from R: |R [-b; 1]|²; an undefined
    one's reason in undefined."""
    coef = solve_ridge(scatter, ridge)
    p = len(coef)
    e_y = int(scatter.exponent[p])
    resid = scatter.r @ np.concatenate([-coef, [1.0]])
    # the norms first, as fit_measures takes them: squares of a target near 1e-200 are 0
    residual = float(column_norms(resid[:, None])[0])
    total = float(column_norms(scatter.r[:, p : p + 1])[0])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r2 = 1 - (residual / total) ** 2 if total > 0 else math.nan
        rmse = residual / math.sqrt(scatter.total_weight)
        rss = float(np.float64(residual) ** 2)
    return {
        "r2": number(r2),
        "rmse": number(scaled(rmse, e_y)),
        "rss": number(scaled(rss, 2 * e_y)),
        "undefined": {"r2": CONSTANT_TARGET} if total <= 0 else {},
    }


def robust_errors(d: Design, meat: np.ndarray, kind: str) -> np.ndarray:
    """The robust standard errors of (intercept, coefficients) in the held scale, NaN where
    undefined (a row of leverage 1, sums past the float range).

    meat sums s_i v_i v_iᵀ with v_i = [1, q_i], q_i = (x_i - x̄) G 2**m (m the weight exponent)
    and the residuals over 2**residual_exponent. The sandwich (R11ᵀR11)⁻¹ M (R11ᵀR11)⁻¹ is
    then A C Aᵀ, C = S meat S (S = diag(1/n, w̄ / 4**m)) and A = [[1, -x̄ G̃], [0, G̃]], G̃ = G
    2**m moving the centered intercept to the data's; the errors are the norms of A's rows
    taken through a square root of C. C is as well conditioned as the rows' q, so the errors
    lose about eps·κ, not the eps·κ² of multiplying (R11ᵀR11)⁻¹ by sums of the raw x.
    """
    p = len(d.coef)
    if kind in ("hc2", "hc3") and d.df_resid <= 0:
        # no residual freedom: every row has leverage 1, and e / (1 - h) is 0 / 0
        return np.full(p + 1, math.nan)
    m = d.weight_exponent
    scale = np.full(p + 1, math.ldexp(d.weight / d.rows, -2 * m))
    scale[0] = 1 / d.rows
    with np.errstate(over="ignore", invalid="ignore"):
        middle = meat * scale[:, None] * scale[None, :]
        if kind == "hc1":
            # HC1 is HC0 with the degrees-of-freedom correction n / (n - k - 1)
            middle = middle * (d.rows / d.df_resid) if d.df_resid > 0 else middle * np.nan
        if not np.isfinite(middle).all():
            return np.full(p + 1, math.nan)
        values, vectors = np.linalg.eigh(middle)
        root = vectors * np.sqrt(np.maximum(values, 0))  # middle = root rootᵀ
        g = np.ldexp(d.inverse_root, m)
        a = np.zeros((p + 1, p + 1))
        a[0, 0] = 1.0
        a[0, 1:] = -(d.means[:p] @ g)
        a[1:, 1:] = g
        errors = column_norms((a @ root).T)
        return np.ldexp(errors, d.residual_exponent)
