"""The article's CPU-bound task run at 1..N processes: speedup, efficiency and an Amdahl fit."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from poolpipe.core.pool import pool_map
from poolpipe.core.timing import Stopwatch


def heavy_computation(n: int) -> int:
    """The article's task, verbatim: a pure-Python loop adding 0..n-1."""
    result = 0
    for i in range(n):
        result += i
    return result


@dataclass(frozen=True, kw_only=True)
class ScalingPoint:
    """Median wall time of the whole job at one process count."""

    processes: int
    wall_s: float
    runs: tuple[float, ...]
    speedup: float
    efficiency: float
    load: float | None = None
    """Cores other processes kept busy during the runs (median over the repeats)."""


def split_work(total: int, parts: int) -> list[int]:
    """Split `total` loop iterations into `parts` near-equal tasks."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def time_run(total: int, processes: int) -> Stopwatch:
    """The whole job split over `processes` pool workers, timed (start-up included)."""
    tasks = split_work(total, processes)
    with Stopwatch() as watch:
        results = list(pool_map(heavy_computation, tasks, processes, describe=_describe))
    if results != [n * (n - 1) // 2 for n in tasks]:
        raise AssertionError("a worker returned a wrong result")
    return watch


def _describe(n: int) -> str:
    return f"a loop of {n} iterations"


def cpu_scaling(total: int, process_counts: Sequence[int], repeats: int) -> list[ScalingPoint]:
    """Time the job at each process count, `repeats` times, interleaved; medians and ratios."""
    runs: dict[int, list[float]] = {p: [] for p in process_counts}
    loads: dict[int, list[float]] = {p: [] for p in process_counts}
    for _ in range(repeats):
        for p in process_counts:
            watch = time_run(total, p)
            runs[p].append(watch.wall_s)
            if watch.load is not None:
                loads[p].append(watch.load)
    medians = {p: statistics.median(r) for p, r in runs.items()}
    base = medians[min(process_counts)] * min(process_counts)
    return [
        ScalingPoint(
            processes=p,
            wall_s=medians[p],
            runs=tuple(runs[p]),
            speedup=base / medians[p],
            efficiency=base / medians[p] / p,
            load=statistics.median(loads[p]) if loads[p] else None,
        )
        for p in process_counts
    ]


def amdahl_serial_fraction(points: Sequence[ScalingPoint]) -> float | None:
    """Least-squares serial fraction s of Amdahl's law 1/S(p) = s + (1 - s)/p, clipped to [0, 1]."""
    pairs = [(1 - 1 / pt.processes, 1 / pt.speedup - 1 / pt.processes) for pt in points]
    denom = sum(x * x for x, _ in pairs)
    if denom == 0:
        return None
    return min(1.0, max(0.0, sum(x * y for x, y in pairs) / denom))


def amdahl_speedup(serial_fraction: float, processes: int) -> float:
    """Speedup Amdahl's law predicts at `processes` for a serial fraction."""
    return 1 / (serial_fraction + (1 - serial_fraction) / processes)
