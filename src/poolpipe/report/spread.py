"""Spread over repeats: median, min, max and IQR, and whether they let a reader conclude."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Spread:
    """Median, extremes and interquartile range of repeated measurements."""

    n: int
    median: float
    min: float
    max: float
    iqr: float

    @property
    def relative_iqr(self) -> float:
        """IQR over the median: 0.1 means the middle half lies within 10 % of the median."""
        return self.iqr / abs(self.median) if self.median else float("inf")


def spread_of(values: Sequence[float]) -> Spread | None:
    """The spread of some measurements, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) > 1:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return Spread(
        n=len(ordered),
        median=statistics.median(ordered),
        min=ordered[0],
        max=ordered[-1],
        iqr=q3 - q1,
    )


def speedup_verdict(speedups: Spread | None, *, spread_limit: float) -> str:
    """What repeated speedups let a reader say: pays, does not pay, or too spread to conclude."""
    if speedups is None:
        return ""
    if speedups.n < 2:
        side = "pays" if speedups.median > 1 else "does not pay"
        return f"{side} (one measurement, no spread)"
    if speedups.min <= 1 <= speedups.max:
        return "too spread to conclude: repeats fall on both sides of 1"
    if speedups.relative_iqr > spread_limit:
        return f"too spread to conclude: IQR is {speedups.relative_iqr:.0%} of the median"
    return "pays" if speedups.min > 1 else "does not pay"
