"""Per stage: its span on the run's timeline, its throughput in its own units, its speedup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from poolpipe.core.timing import parse_utc
from poolpipe.report.cells import (
    cores,
    count,
    rate,
    seconds,
    sig3,
    size,
    speedup_verdict,
    spread_of,
    times,
)
from poolpipe.report.jobs import JobRow

UNITS = {"sum": "numbers", "train": "rows", "crawl": "URL lines"}
"""What a stage's items are: the unit of its items/s."""


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One job's interval on the run's timeline, in seconds from the run's first start."""

    stage: str
    label: str
    start_s: float
    end_s: float
    serial: bool = False
    startup_s: float = 0.0
    """How long the job ran before its timed work began (drawn lighter, before start_s)."""


@dataclass(frozen=True, kw_only=True)
class StageRow:
    """A stage's chunk jobs (those that run a pool over the data) taken together."""

    stage: str
    jobs: int
    wall_s: float
    span_s: float
    items: int
    unit: str
    bytes: int
    mb_s: float | None
    items_per_s: float | None
    serial_wall_s: float | None
    speedup: float | None
    speedup_min: float | None
    speedup_max: float | None
    speedup_iqr: float | None
    measured: int
    """The chunks the speedup is the median of: those rerun in one process that had work."""
    empty: int
    """Chunks rerun in one process but left out of the speedup: they had no work to share."""
    load: float | None
    verdict: str


def timeline(jobs: Sequence[JobRow]) -> list[Bar]:
    """Every job with clock times as bars from the run's start, one-process reruns apart."""
    spans = []
    for j in jobs:
        if j.started_at and j.ended_at:
            start, end = parse_utc(j.started_at), parse_utc(j.ended_at)
            spans.append((j.stage, j.name, start, end, False, j.startup_s or 0.0))
        if j.serial_started_at and j.serial_ended_at:
            start, end = parse_utc(j.serial_started_at), parse_utc(j.serial_ended_at)
            spans.append((j.stage, f"{j.name} one process", start, end, True, 0.0))
    if not spans:
        return []
    zero = min(s[2] - s[5] for s in spans)
    return [
        Bar(stage=s, label=n, start_s=a - zero, end_s=b - zero, serial=one, startup_s=up)
        for s, n, a, b, one, up in sorted(spans, key=lambda s: s[2])
    ]


def idle_gaps(bars: Sequence[Bar], *, least_s: float = 0.5) -> list[tuple[float, float]]:
    """Stretches of the timeline where no job ran (start-up included), at least least_s long
    and at least 3 % of the whole: Snakemake's scheduling, or a wait between two runs."""
    if not bars:
        return []
    whole = max(b.end_s for b in bars) - min(b.start_s - b.startup_s for b in bars)
    least = max(least_s, 0.03 * whole)
    gaps, reach = [], None
    for start, end in sorted((b.start_s - b.startup_s, b.end_s) for b in bars):
        if reach is not None and start - reach >= least:
            gaps.append((reach, start))
        reach = end if reach is None else max(reach, end)
    return gaps


def busy_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Seconds covered by at least one interval: jobs that ran at once count once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def stage_rows(
    jobs: Sequence[JobRow], *, spread_limit: float = 0.25, load_limit: float = 0.25
) -> list[StageRow]:
    """Per stage, its chunk jobs: time on the timeline, throughput, and the speedups' spread."""
    out = []
    for stage in sorted({j.stage for j in jobs}):
        mine = [j for j in jobs if j.stage == stage and j.chunk is not None]
        if not mine:
            continue
        timed = [
            (parse_utc(j.started_at), parse_utc(j.ended_at))
            for j in mine
            if j.started_at and j.ended_at
        ]
        if len(timed) == len(mine):
            wall, span = busy_seconds(timed), max(b for _, b in timed) - min(a for a, _ in timed)
        else:
            wall = span = sum(j.wall_s for j in mine)
        serials = [j.serial_wall_s for j in mine]
        serial = sum(serials) if all(s is not None for s in serials) else None  # type: ignore[misc]
        rerun = [j for j in mine if j.speedup is not None]
        # an empty chunk times only the pool's start: it says nothing of the work's speedup
        worked = [j for j in rerun if j.items or j.bytes] or rerun
        speedups = spread_of([j.speedup for j in worked if j.speedup is not None])
        loads = spread_of([j.load for j in mine if j.load is not None])
        size, items = sum(j.bytes for j in mine), sum(j.items for j in mine)
        out.append(
            StageRow(
                stage=stage,
                jobs=len(mine),
                wall_s=wall,
                span_s=span,
                items=items,
                unit=UNITS.get(stage, "items"),
                bytes=size,
                mb_s=size / wall / 1e6 if wall else None,
                items_per_s=items / wall if wall else None,
                serial_wall_s=serial,
                speedup=speedups.median if speedups else None,
                speedup_min=speedups.min if speedups else None,
                speedup_max=speedups.max if speedups else None,
                speedup_iqr=speedups.iqr if speedups else None,
                measured=len(worked),
                empty=len(rerun) - len(worked),
                load=loads.median if loads else None,
                verdict=speedup_verdict(speedups, spread_limit=spread_limit)
                + (", under load" if speedups and loads and loads.median > load_limit else ""),
            )
        )
    return out


STAGES_HEAD = ("stage", "chunks", "time", "data", "throughput", "speedup", "other load")
STAGES_HEAD += ("verdict",)


def stages_table(stages: Sequence[StageRow]) -> tuple[list[str], list[list[str]]]:
    """Per stage: time, data and throughput with units, and the pool's speedup with its range."""
    rows = []
    for s in stages:
        speedup = ""
        if s.speedup is not None:
            speedup = times(s.speedup)
            if s.measured > 1 and s.speedup_min is not None and s.speedup_max is not None:
                speedup += f" ({sig3(s.speedup_min)} to {sig3(s.speedup_max)})"
        through = rate(s.bytes, s.wall_s, "B") if s.bytes else rate(s.items, s.wall_s, s.unit)
        rows.append(
            [
                s.stage,
                str(s.jobs),
                seconds(s.wall_s),
                f"{size(s.bytes)}, {count(s.items, s.unit)}" if s.bytes else count(s.items, s.unit),
                through,
                speedup,
                cores(s.load),
                s.verdict,
            ]
        )
    return list(STAGES_HEAD), rows
