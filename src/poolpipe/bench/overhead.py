"""What a process pool costs before it pays: start-up, per-task dispatch, and the break-even.

The cost model is T(p) = start + serial + work/p: `start` is paid only when a pool runs (fork,
worker start, the first task's round trip, shutdown), `serial` is the part no worker can share,
and `work` is what p workers divide. A pool of p processes beats one process only when
work > start * p / (p - 1): the break-even work.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from poolpipe.core.pool import pool_map
from poolpipe.core.timing import Stopwatch


@dataclass(frozen=True, kw_only=True)
class OverheadPoint:
    """The measured cost of a pool of `processes` workers on this machine."""

    processes: int
    start_s: float
    start_min_s: float
    start_max_s: float
    dispatch_us: float
    repeats: int
    load: float | None


@dataclass(frozen=True, kw_only=True)
class Timed:
    """One measured run of some work: at `processes` processes, in a pool or not."""

    processes: int
    wall_s: float
    pooled: bool = True


@dataclass(frozen=True, kw_only=True)
class CostModel:
    """T(p) = start + serial + work/p, fitted to measurements (seconds)."""

    start_s: float
    serial_s: float
    work_s: float

    def predict(self, processes: int, *, pooled: bool = True) -> float:
        """The model's wall time at `processes` processes."""
        return (self.start_s if pooled else 0.0) + self.serial_s + self.work_s / processes

    def break_even_s(self, processes: int) -> float | None:
        """The least one-process work (seconds) that a pool of `processes` can speed up."""
        if processes < 2:
            return None
        return self.start_s * processes / (processes - 1)


def _echo(value: int) -> int:
    return value


def _describe(value: int) -> str:
    return f"an empty task ({value})"


def _pool_seconds(processes: int, tasks: int) -> float:
    with Stopwatch() as watch:
        list(pool_map(_echo, range(tasks), processes, describe=_describe))
    return watch.wall_s


def measure_overhead(
    process_counts: Sequence[int], *, repeats: int, tasks: int
) -> list[OverheadPoint]:
    """Time empty pools (start-up) and pools of `tasks` empty tasks (dispatch), interleaved."""
    starts: dict[int, list[float]] = {p: [] for p in process_counts}
    fulls: dict[int, list[float]] = {p: [] for p in process_counts}
    with Stopwatch() as watch:
        for _ in range(repeats):
            for p in process_counts:
                starts[p].append(_pool_seconds(p, p))
                fulls[p].append(_pool_seconds(p, tasks + p))
    out = []
    for p in process_counts:
        start = statistics.median(starts[p])
        dispatch = max(0.0, statistics.median(fulls[p]) - start) / tasks if tasks else 0.0
        out.append(
            OverheadPoint(
                processes=p,
                start_s=start,
                start_min_s=min(starts[p]),
                start_max_s=max(starts[p]),
                dispatch_us=dispatch * 1e6,
                repeats=repeats,
                load=watch.load,
            )
        )
    return out


def fit_cost_model(points: Sequence[Timed], *, start_s: float | None = None) -> CostModel:
    """Least-squares T(p) = start + serial + work/p; with start_s given, only serial and work.

    Negative fitted terms are clipped to 0 (noise, not a time). Raises ValueError when the
    points cannot tell the terms apart (e.g. a single process count).
    """
    pooled = np.array([1.0 if t.pooled else 0.0 for t in points])
    inverse = np.array([1.0 / t.processes for t in points])
    wall = np.array([t.wall_s for t in points])
    if start_s is None:
        design = np.column_stack([pooled, np.ones_like(wall), inverse])
        target = wall
    else:
        design = np.column_stack([np.ones_like(wall), inverse])
        target = wall - start_s * pooled
    if len(points) < design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError("the measurements cannot separate start, serial and work")
    terms = np.linalg.lstsq(design, target, rcond=None)[0]
    if start_s is None:
        start, serial, work = terms
    else:
        start, (serial, work) = start_s, terms
    return CostModel(
        start_s=max(0.0, float(start)),
        serial_s=max(0.0, float(serial)),
        work_s=max(0.0, float(work)),
    )
