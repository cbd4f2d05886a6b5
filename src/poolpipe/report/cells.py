"""The one text form of a value, shared by the CSV, the page and the summary: the CSV keeps six
significant digits and no units; the page shows three significant digits with a unit. And the
spread over repeats (median, min, max and IQR) with whether it lets a reader conclude."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from poolpipe.core.outputs import P_FLOOR

MISSING = ""
"""How the page shows a measurement that was not taken: an empty cell, as in the CSV."""

MIN_RATE_S = 0.05
"""A job shorter than this (seconds) has no rate on the page: its start-up and the clock's
grain are a large part of it, so bytes or items per second would say more about them than
about the work (timings.csv keeps every rate)."""


def cell(value: object) -> str:
    """A value as the CSV writes it: empty for None, six significant digits for a float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def shown(value: object) -> str:
    """A value as the page shows it: empty for None, three significant figures for a float."""
    if isinstance(value, float):
        return sig3(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return sig3(float(value)) if abs(value) >= 1e6 else str(value)
    return cell(value)


def sig3(value: float) -> str:
    """A number to three significant figures: '0.00123', '98 500', '1.33e8' (from a million)."""
    return figures(value, 3)


def figures(value: float, digits: int) -> str:
    """A number to `digits` significant figures, as sig3 writes three: figures(1916.2, 4) is
    '1916'."""
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        text = f"{float(f'{value:.{digits}g}'):,.{digits + 3}f}".rstrip("0").rstrip(".")
        return text.replace(",", "\u2009") if abs(value) >= 1e4 else text.replace(",", "")
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def scaled(value: float | None, units: tuple[tuple[float, str], ...]) -> str:
    """A value in the largest unit it reaches, three significant figures: scaled(0.02, TIME)."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return str(value)
    factor, unit = units[-1]
    for factor, unit in units:  # noqa: B007 (the first unit the value reaches is kept)
        if abs(float(f"{value / factor:.3g}")) >= 1:  # rounded first: 999 999 B is 1 MB
            break
    return f"{sig3(value / factor)} {unit}"


TIME = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s"), (1e-3, "ms"), (1e-6, "µs"))
SIZE = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB"), (1.0, "B"))
COUNT = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))


def seconds(value: float | None) -> str:
    """A duration with its unit: '287 ms', '1.6 s', '2.5 min' ('0 s' for none at all)."""
    if value == 0:
        return "0 s"
    if value is not None and 0 < abs(value) < 1e-6:
        return f"{sig3(value * 1e6)} µs"
    return scaled(value, TIME)


def size(value: float | None) -> str:
    """A size in bytes with its unit (powers of 1000): '683 MB', '4.1 KB', '12 B'."""
    if value is not None and 0 < abs(value) < 1:
        return f"{sig3(value)} B"
    return scaled(value, SIZE)


def grouped(value: int) -> str:
    """A whole number with its digits in groups of three ('49\u2009996'), however large."""
    return f"{value:,}".replace(",", "\u2009")


def count(value: float | None, unit: str = "") -> str:
    """A count with its unit, exact below a million ('19\u2009995 rows'), else with a metric prefix
    ('98.5 M numbers')."""
    if value is None:
        return MISSING
    exact = isinstance(value, int) and abs(value) < 1e6
    if exact or abs(value) < 1e3:
        text = sig3(float(value)) if not exact else grouped(value)
        return f"{text} {unit}".rstrip()
    return f"{scaled(value, COUNT)} {unit}".rstrip()


def counted(value: int | None, noun: str, plural: str = "") -> str:
    """A count of things, the noun singular for exactly one ('1 URL', '2 URLs')."""
    return count(value, noun if value == 1 else plural or f"{noun}s")


def cores(load: float | None) -> str:
    """A number of cores as the page shows it: '1 core', '1.3 cores' ('' for none measured)."""
    if load is None:
        return MISSING
    text = sig3(load)
    return f"{text} core{'' if text == '1' else 's'}"


def rate(amount: float | None, wall_s: float | None, unit: str) -> str:
    """A rate per second with its unit, or empty when the job was too short to measure one."""
    if amount is None or not wall_s or wall_s < MIN_RATE_S:
        return MISSING
    per = amount / wall_s
    if unit == "B":
        return f"{size(per)}/s"
    return f"{count(per, unit)}/s"


def times(value: float | None) -> str:
    """A ratio as the page says it: '1.6x'."""
    return MISSING if value is None else f"{sig3(value)}x"


def p_value(value: float | None, digits: int = 3) -> str:
    """A p-value, never 0: '< 1e-300' below P_FLOOR."""
    if value is None:
        return MISSING
    if value < P_FLOOR:
        return f"< {P_FLOOR:g}"
    return figures(value, digits)


# --- spread over repeats ------------------------------------------------------------------


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
