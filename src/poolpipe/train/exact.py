"""The exact fit's entry of model.json (coefficients, statistics, robust errors) and the ridge fit.

Both come from the merged Scatter of the first pass; robust errors read the rows
once more through the pool (train/robust.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from poolpipe.core.chunks import Range
from poolpipe.core.defaults import schema_bounds
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns
from poolpipe.train.fit import TrainPart
from poolpipe.train.inference import coefficient_table, design, inference, ridge_measures
from poolpipe.train.robust import KINDS, RobustPass, robust_covariance, robust_sums
from poolpipe.train.solve import Fit, aliased_columns, solve


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
    """What a fit reports beyond its coefficients: interval level, ridge, robust errors."""

    alpha: float = 0.05
    ridge: float = 0.0
    robust: str = "none"

    def __post_init__(self) -> None:
        if self.robust not in ("none", *KINDS):
            raise PoolpipeError(
                f"robust must be one of none, {', '.join(KINDS)}, not {self.robust!r}"
            )
        for name in ("alpha", "ridge"):
            problem = schema_bounds(f"train.{name}").problem(getattr(self, name))
            if problem:
                raise PoolpipeError(f"train.{name} {problem}")


def exact_json(
    total: TrainPart,
    columns: Columns,
    options: Options,
    ranges: Sequence[Range],
    *,
    processes: int = 1,
) -> dict[str, Any]:
    """The exact fit with its statistics, and robust errors from a second pass if asked."""
    scatter, reference = total.scatter, columns.reference
    exact = check_finite(solve(scatter, reference), "exact fit", columns.path)
    names = columns.feature_names
    doc = {
        **exact.to_json(),
        "aliased": [names[j] for j in aliased_columns(scatter)],
        **inference(
            scatter, reference, coef=exact.coef, intercept=exact.intercept, alpha=options.alpha
        ),
    }
    if options.robust != "none":
        d = design(scatter, reference)
        job = RobustPass(columns, d, options.robust)
        cov = robust_covariance(d, robust_sums(ranges, job, processes=processes), options.robust)
        table = coefficient_table(
            coef=exact.coef, intercept=exact.intercept, cov=cov, d=d, alpha=options.alpha
        )
        doc["robust"] = {"kind": options.robust, **table}
    return doc


def ridge_json(total: TrainPart, columns: Columns, ridge: float) -> dict[str, Any]:
    """The ridge fit (scikit-learn's Ridge with its intercept) and how well it fits."""
    fit = solve(total.scatter, columns.reference, ridge=ridge)
    fit = check_finite(fit, "ridge fit", columns.path)
    return {
        "alpha": ridge,
        "coef": list(fit.coef),
        "intercept": fit.intercept,
        **ridge_measures(total.scatter, ridge),
    }
