"""The exact fit's entry of model.json (coefficients, statistics, robust errors) and the ridge fit.

Both come from the merged Scatter of the first pass; robust errors read the rows
once more through the pool (train/robust.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from poolpipe.core.chunks import Range
from poolpipe.core.defaults import schema_bounds
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns
from poolpipe.train.fit import TrainPart
from poolpipe.train.inference import coefficient_table, design, inference, number, ridge_measures
from poolpipe.train.refine import needs_refinement, refine
from poolpipe.train.robust import KINDS, RobustPass, robust_covariance, robust_sums
from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import CONDITION_WARN, Fit, solve, through_origin


def finite(fit: Fit) -> bool:
    """Whether every coefficient and the intercept are finite."""
    return bool(np.isfinite([*fit.coef, fit.intercept]).all())


def check_finite(fit: Fit, what: str, path: str) -> Fit:
    """The fit, or one sentence if a coefficient passes the float limit."""
    if not finite(fit):
        raise PoolpipeError(
            f"{path}: the {what} is not finite: a coefficient or the intercept passes the "
            "float limit (about 1.8e308); rescale the columns"
        )
    return fit


@dataclass(frozen=True, kw_only=True)
class Options:
    """What a fit reports beyond its coefficients: interval level, ridge, robust errors, and
    whether the model has an intercept."""

    alpha: float = 0.05
    ridge: float = 0.0
    robust: str = "none"
    intercept: bool = True

    def __post_init__(self) -> None:
        if self.robust not in ("none", *KINDS):
            raise PoolpipeError(
                f"robust must be one of none, {', '.join(KINDS)}, not {self.robust!r}"
            )
        if self.robust != "none" and not self.intercept:
            raise PoolpipeError(
                "robust errors are computed for models with an intercept only; "
                "leave out robust or keep the intercept"
            )

        for name in ("alpha", "ridge"):
            problem = schema_bounds(f"train.{name}").problem(getattr(self, name))
            if problem:
                raise PoolpipeError(f"train.{name} {problem}")

    def summary(self, scatter: Scatter, reference: Sequence[float]) -> Scatter:
        """The rows' summary the fit solves: about the means, or about 0 without intercept."""
        return scatter if self.intercept else through_origin(scatter, reference)


def exact_json(
    total: TrainPart,
    columns: Columns,
    options: Options,
    ranges: Sequence[Range],
    *,
    processes: int = 1,
) -> dict[str, Any]:
    """The exact fit with its statistics, and robust errors from a second pass if asked."""
    reference = columns.reference
    scatter = options.summary(total.scatter, reference)
    exact = check_finite(solve(scatter, reference), "exact fit", columns.path)
    names = columns.feature_names
    d = design(scatter, reference, intercept=options.intercept)
    aliased = [names[j] for j in d.kept.aliased]
    condition = d.kept.condition_number()
    refined = bool(ranges) and needs_refinement(d, condition)
    if refined:
        kept_coef, intercept = refine(ranges, columns, d, processes=processes)
        coef = d.kept.expand(list(kept_coef), 0.0)
        exact = check_finite(Fit(tuple(coef), intercept, exact.rank), "exact fit", columns.path)
    doc = {
        **exact.to_json(),
        "fit_intercept": options.intercept,
        "aliased": aliased,
        "condition_number": number(condition) if condition is not None else None,
        "refined": refined,
        "warnings": warnings(aliased, condition),
        **inference(d, coef=exact.coef, intercept=exact.intercept, alpha=options.alpha),
    }
    if options.robust != "none":
        job = RobustPass(columns, d, options.robust)
        cov = robust_covariance(d, robust_sums(ranges, job, processes=processes), options.robust)
        table = coefficient_table(
            coef=[exact.coef[j] for j in d.kept.features],
            intercept=exact.intercept,
            cov=cov,
            d=d,
            alpha=options.alpha,
        )
        doc["robust"] = {"kind": options.robust, **table}
    return doc


def warnings(aliased: Sequence[str], condition: float | None) -> list[str]:
    """What a reader of the fit should know first: aliased columns, a large condition number."""
    said = []
    if aliased:
        said.append(
            f"{len(aliased)} column(s) aliased (a combination of the columns before them, "
            f"left out of the fit): {', '.join(aliased)}"
        )
    if condition is not None and condition > CONDITION_WARN:
        digits = math.log10(condition) if math.isfinite(condition) else math.inf
        said.append(
            f"the condition number is large ({condition:.3g}): the columns are nearly "
            f"collinear and the coefficients may lose about {digits:.0f} of their 16 digits"
        )
    return said


def ridge_json(total: TrainPart, columns: Columns, options: Options) -> dict[str, Any]:
    """The ridge fit (scikit-learn's Ridge with its intercept) and how well it fits."""
    scatter = options.summary(total.scatter, columns.reference)
    fit = solve(scatter, columns.reference, ridge=options.ridge)
    fit = check_finite(fit, "ridge fit", columns.path)
    return {
        "alpha": options.ridge,
        "coef": list(fit.coef),
        "intercept": fit.intercept,
        **ridge_measures(scatter, options.ridge),
    }
