"""Why a speedup is what it is: the pool's overhead fitted to each stage, and the load."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poolpipe.bench import CostModel, OverheadPoint, ScalingPoint, Timed, fit_cost_model
from poolpipe.report.cells import sig3
from poolpipe.report.jobs import JobRow
from poolpipe.report.stages import StageRow


@dataclass(frozen=True, kw_only=True)
class StageCost:
    """A stage's chunk jobs fitted to T(p) = start + serial + work/p, per chunk."""

    stage: str
    processes: int
    model: CostModel
    bytes_per_chunk: float

    def break_even_mb(self) -> float | None:
        """The least chunk size (MB) whose shareable work outweighs the pool's start."""
        need = self.model.break_even_s(self.processes)
        if need is None or not self.model.work_s:
            return None
        return need / self.model.work_s * self.bytes_per_chunk / 1e6


def start_at(overhead: Sequence[OverheadPoint], processes: int) -> float | None:
    """The measured start-up cost of a pool of `processes`, or of the nearest size measured."""
    if not overhead:
        return None
    return min(overhead, key=lambda p: abs(p.processes - processes)).start_s


def stage_cost(
    stage: str, jobs: Sequence[JobRow], overhead: Sequence[OverheadPoint]
) -> StageCost | None:
    """Fit a stage's chunks (one-process reruns and pool runs) with the measured start-up."""
    mine = [j for j in jobs if j.stage == stage and j.chunk is not None and j.serial_wall_s]
    if not mine:
        return None
    processes = max(j.processes for j in mine)
    start = start_at(overhead, processes)
    if start is None or processes < 2:
        return None
    points = [Timed(processes=1, wall_s=j.serial_wall_s or 0.0, pooled=False) for j in mine]
    points += [Timed(processes=j.processes, wall_s=j.wall_s) for j in mine]
    model = fit_cost_model(points, start_s=start)
    size = sum(j.bytes for j in mine) / len(mine)
    return StageCost(stage=stage, processes=processes, model=model, bytes_per_chunk=size)


def _ms(seconds: float) -> str:
    return f"{sig3(seconds * 1e3)} ms"


def stage_sentence(
    row: StageRow, cost: StageCost | None, *, load_limit: float, cpus: int | None = None
) -> str:
    """One sentence (or two) beside a stage's speedup that says why it is what it is."""
    if row.speedup is None:
        why = row.serial_note or "not measured: timing.compare_serial is off"
        return f"{row.stage}: no one-process comparison ({why})."
    text = (
        f"{row.stage}: the pool ran {sig3(row.speedup)}x as fast as one process "
        f"(median of {row.jobs} chunks, {sig3(row.speedup_min or 0)} to "
        f"{sig3(row.speedup_max or 0)}; {row.verdict})."
    )
    if cost:
        m, p = cost.model, cost.processes
        text += (
            f" Fit per chunk: starting a pool of {p} costs {_ms(m.start_s)}, "
            f"{_ms(m.serial_s)} stays serial and {_ms(m.work_s)} is shared by the workers"
        )
        mb = cost.break_even_mb()
        need = m.break_even_s(p) or 0.0
        if m.work_s <= m.start_s:
            text += (
                ": the fit finds next to no shareable work, i.e. the pool's workers did not "
                "run side by side, so the pool could not pay."
            )
        elif mb is not None:
            text += (
                f"; a pool of {p} pays only for chunks of more than {_ms(need)} of shareable "
                f"work, about {sig3(mb)} MB per chunk "
                f"(this run's chunks: {sig3(cost.bytes_per_chunk / 1e6)} MB)."
            )
        else:
            text += "."
    if row.load is not None and row.load > load_limit:
        text += f" Timed under load: other processes kept {sig3(row.load)} cores busy"
        if cpus and cost:
            free = max(0.0, cpus - row.load)
            text += (
                f" of the {cpus} usable, leaving about {sig3(free)} for the pool's "
                f"{cost.processes} workers"
            )
        text += ", so the workers could not all run at once."
    return text


def scaling_cost(
    points: Sequence[ScalingPoint], overhead: Sequence[OverheadPoint]
) -> CostModel | None:
    """bench_cpu's medians fitted to T(p) = start + serial + work/p."""
    start = start_at(overhead, max((p.processes for p in points), default=1))
    timed = [Timed(processes=p.processes, wall_s=p.wall_s) for p in points]
    try:
        return fit_cost_model(timed, start_s=start)
    except ValueError:
        return None
