"""Why a speedup is what it is: the pool's overhead fitted to each stage, and the load."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poolpipe.bench import CostModel, OverheadPoint, ScalingPoint, Timed, fit_cost_model
from poolpipe.report.cells import cores, counted, seconds, sig3, size
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


def nearest(overhead: Sequence[OverheadPoint], processes: int) -> OverheadPoint | None:
    """The measured pool of `processes`, or of the nearest size measured (None if none)."""
    return min(overhead, key=lambda p: abs(p.processes - processes)) if overhead else None


def start_at(overhead: Sequence[OverheadPoint], processes: int) -> float | None:
    """The measured start-up cost of a pool of `processes`, or of the nearest size measured."""
    near = nearest(overhead, processes)
    return near.start_s if near else None


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


VERBS = {"sum": "summed the file", "train": "fitted the rows", "crawl": "crawled the URLs"}
"""What a stage's pool did, in a newcomer's words."""


def _note(jobs: Sequence[JobRow]) -> str | None:
    return next((j.serial_note for j in jobs if j.serial_note), None)


def plain_sentence(
    row: StageRow,
    cost: StageCost | None,
    jobs: Sequence[JobRow],
    *,
    load_limit: float,
    overhead: Sequence[OverheadPoint] = (),
) -> str:
    """One sentence a newcomer reads in seconds: how much faster (or slower) the pool was, why;
    overhead gives the start of the measured pool size nearest the one the stage used."""
    mine = [j for j in jobs if j.stage == row.stage and j.chunk is not None]
    if row.speedup is None:
        note = _note(mine)
        return (
            f"{row.stage}: {note.rstrip('.')}."
            if note
            else (f"{row.stage}: not compared with one process (timing.compare_serial is off).")
        )
    processes = max((j.processes for j in mine), default=1)
    pool = counted(processes, "process", "processes")
    verb = VERBS.get(row.stage, "did the work")
    x = sig3(row.speedup)
    if row.stage == "crawl":
        worker_s = sum(j.wall_s * j.processes for j in mine)  # all chunks: none stands alone
        share = (
            f" (over its {counted(len(mine), 'chunk')}, its workers kept "
            f"{sig3(100 * sum(j.cpu_s for j in mine) / worker_s)} % of their CPUs busy)"
            if worker_s
            else ""
        )
        if row.verdict.startswith("too spread"):  # as the Stages table says: no verdict
            pace = f"at {x} times the speed of one, {row.verdict}"
        elif row.speedup >= 1:
            unsure = "" if row.verdict.startswith("pays") else f" ({row.verdict})"
            pace = f"{x} times as fast as one{unsure}"
        else:
            pace = f"at {x} times the speed of one (slower here)"
        return (
            f"crawl: {pool} {verb} {pace}; the crawl spends its time waiting on "
            f"servers{share}, so more connections, not more CPUs, make it faster."
        )
    busy = (
        f", while the machine was busy with {sig3(row.load)} other cores"
        if row.load is not None and row.load > load_limit
        else ""
    )
    if row.speedup >= 1:
        unsure = "" if row.verdict.startswith("pays") else f" ({row.verdict})"
        return f"{row.stage}: {pool} {verb} {x} times as fast as one{unsure}{busy}."
    if row.verdict.startswith("too spread"):  # as the Stages table says: no verdict
        pace = f"{pool} {verb} at {x} times the speed of one"
        return f"{row.stage}: {pace}, {row.verdict}{busy}."
    if cost and cost.model.work_s <= cost.model.start_s:  # as the Stages section says
        return (
            f"{row.stage}: slower here, {x} times the speed of one process{busy}; the work its "
            "processes could share was no more than the pool's start, so the pool could not pay."
        )
    work = [j.serial_wall_s for j in mine if j.serial_wall_s]
    why = []
    if work:
        why.append(f"each chunk is {seconds(sorted(work)[len(work) // 2])} of work")
    if cost:
        why.append(f"starting the pool costs {seconds(cost.model.start_s)}")
    elif near := nearest(overhead, processes):  # named: the size measured may differ
        pool_of = counted(near.processes, "process", "processes")
        why.append(f"starting a pool of {pool_of} costs {seconds(near.start_s)}")
    reason = (": " + " and ".join(why)) if why else ""
    return (
        f"{row.stage}: slower here, {x} times the speed of one process{reason}{busy}; "
        f"a pool pays for chunks of more work."
    )


def stage_sentence(
    row: StageRow,
    cost: StageCost | None,
    *,
    load_limit: float,
    cpus: int | None = None,
    jobs: Sequence[JobRow] = (),
) -> str:
    """The longer account beside a stage's speedup: where a chunk's time goes, in plain words."""
    if row.speedup is None:
        note = _note([j for j in jobs if j.stage == row.stage])
        if note:
            return f"{row.stage}: {note.rstrip('.')}."
        return f"{row.stage}: not timed in one process (timing.compare_serial is off)."
    text = (
        f"{row.stage}: the pool ran {sig3(row.speedup)} times as fast as one process "
        f"({'median of ' if row.measured > 1 else ''}{counted(row.measured, 'chunk')}"
    )
    if row.measured > 1:
        text += f", {sig3(row.speedup_min or 0)} to {sig3(row.speedup_max or 0)}"
    if row.empty:
        text += f", leaving out {counted(row.empty, 'empty chunk')}"
    text += f"; {row.verdict})."
    if cost:
        m, p = cost.model, cost.processes
        text += (
            f" Where a chunk's time goes, fitted over the chunks: {seconds(m.start_s)} to start a "
            f"pool of {p}, {seconds(m.serial_s)} of work only one process can do (reading the "
            f"range, merging) and {seconds(m.work_s)} of work the {p} processes share"
        )
        mb = cost.break_even_mb()
        need = m.break_even_s(p) or 0.0
        if m.work_s <= m.start_s:
            text += ": the shared work is no more than the pool's start, so the pool could not pay."
        elif mb is not None:
            text += (
                f". A pool of {p} pays only for chunks with more than {seconds(need)} of shared "
                f"work, about {size(mb * 1e6)} per chunk (this run's chunks: "
                f"{size(cost.bytes_per_chunk)})."
            )
        else:
            text += "."
    if row.load is not None and row.load > load_limit and row.stage == "crawl":
        text += (
            f" Other processes kept {cores(row.load)} busy meanwhile; the crawl spends its "
            "time waiting on servers, so its speed depends on them more than on free cores."
        )
    elif row.load is not None and row.load > load_limit:
        text += f" Other processes kept {cores(row.load)} busy"
        if not (cpus and cost):
            text += " meanwhile"
        if not (cpus and cost):  # the free cores unknown: the load is the one thing said
            text += "."
        else:
            free = max(0.0, cpus - row.load)
            text += (
                f" of the {cpus} usable, leaving about {sig3(free)} for the pool's "
                f"{cost.processes} workers"
            )
            if free < cost.processes:
                text += ", so the workers could not all run at once."
            else:
                text += ", enough for each worker to have a core."
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
