"""The page's sections in order: run, headline, results, timeline, stages, costs, benches, jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from poolpipe.bench import ScalingPoint
from poolpipe.report import plots
from poolpipe.report.benches import ipc_advice, ipc_table, overhead_table, scaling_table
from poolpipe.report.cells import counted, seconds, shown, sig3
from poolpipe.report.compare import changes_summary, changes_table
from poolpipe.report.explain import plain_sentence, scaling_cost, stage_cost, stage_sentence
from poolpipe.report.jobs import CSV_FIELDS, jobs_table
from poolpipe.report.sections import Section
from poolpipe.report.stages import idle_gaps, stages_table

if TYPE_CHECKING:
    from poolpipe.report.render import TimingReport


FOLD_ROWS = 12
"""A table longer than this is folded under a one-line summary (click to open)."""


def run_section(report: TimingReport) -> Section:
    """Which run this is, when it started, and what was left out or could not be read."""
    stages = sorted({j.stage for j in report.jobs})
    text = [
        f"This report describes one run of the workflow: {report.run_id}, started "
        f"{report.run_when}, {counted(len(report.jobs), 'timed job')} "
        f"({', '.join(stages) or 'none'})."
    ]
    from poolpipe.report.runs import RunChoice, left_out

    others = left_out(RunChoice(run_id=report.run_id, jobs=report.jobs, others=report.others))
    if others:
        text.append(others)
    if report.skipped:
        n = len(report.skipped)
        first = report.skipped[0]
        text.append(
            f"Skipped {n} file{'s' if n != 1 else ''} that could not be used, e.g. {first.path}: "
            f"{first.why}."
        )
    table = None
    if report.skipped:
        table = (["skipped file", "why"], [[s.path, s.why] for s in report.skipped])
    return Section(
        title="This run",
        text="\n\n".join(text),
        table=table,
        fold=f"All {len(report.skipped)} skipped files" if len(report.skipped) > FOLD_ROWS else "",
    )


def headline(report: TimingReport) -> str:
    """Per stage one plain sentence: how much the pool bought here, and why."""
    lines = [
        plain_sentence(
            s,
            stage_cost(s.stage, report.jobs, report.overhead),
            report.jobs,
            load_limit=report.judgement.load_limit,
            overhead=report.overhead,
        )
        for s in report.stages
    ]
    if not lines:
        return ""
    if all(s.speedup is None for s in report.stages):  # no figure for the note to explain
        return "\n\n".join(lines)
    # the pools' own sizes: a run with fewer --cores than the machine's CPUs ran smaller ones
    sizes = sorted({j.processes for j in report.jobs if j.chunk is not None and j.serial_wall_s})
    pool = (
        f" of {' or '.join(map(str, sizes))} process{'es' if sizes != [1] else ''}" if sizes else ""
    )
    cpus = f" ({report.machine.usable_cpus} CPUs usable)" if report.machine else ""
    lines.append(
        f"Each figure is the median over the stage's chunks of the time one process took over "
        f"the time the pool{pool} took{cpus}. Other cores busy means other programs' CPU time "
        f"while the job ran (from /proc/stat): a busy machine leaves the pool fewer CPUs."
    )
    return "\n\n".join(lines)


def stage_sections(report: TimingReport) -> list[Section]:
    """The timeline and the per-stage table, with why each speedup is what it is."""
    out = []
    if report.bars:
        gaps = idle_gaps(report.bars)
        idle = (
            f" {len(gaps)} idle stretch{'es' if len(gaps) != 1 else ''} (grey, labelled) "
            f"{'are' if len(gaps) != 1 else 'is'} time with no job running: Snakemake deciding "
            f"and starting the next jobs."
            if gaps
            else ""
        )
        out.append(
            Section(
                title="Timeline",
                text="Every timed job of this run from its start to its end (the UTC clocks of "
                "the timing records). The light part of a bar is the job's start-up (Python, "
                "imports, reading its inputs: Snakemake's whole-job time less the timed work); "
                "the dark part is the work itself."
                + (
                    " Hatched bars are the same work rerun in one process, only to measure the "
                    "speedup."
                    if any(b.serial for b in report.bars)
                    else ""
                )
                + idle,
                png=plots.timeline(report.bars, gaps),
                caption="A stage's time below is the stretch covered by its chunk bars: jobs "
                "that ran at once count once."
                if report.stages
                else "",
            )
        )
    if report.stages:
        limit = report.judgement.load_limit
        why = [
            stage_sentence(
                s,
                stage_cost(s.stage, report.jobs, report.overhead),
                load_limit=limit,
                cpus=report.machine.usable_cpus if report.machine else None,
                jobs=report.jobs,
            )
            for s in report.stages
        ]
        out.append(
            Section(
                title="Stages",
                text="\n\n".join(
                    [
                        "Each stage's chunk jobs together: time on the timeline (jobs at once "
                        "count once), the data they read, throughput, and the speedup over one "
                        "process (median over chunks, with the lowest and highest). A rate is "
                        "left out when the jobs were too short to measure one.",
                        *why,
                    ]
                ),
                table=stages_table(report.stages),
                png=plots.stage_times(
                    [s.stage for s in report.stages],
                    [s.wall_s for s in report.stages],
                    [
                        None if s.speedup is None else (s.speedup, s.speedup_min, s.speedup_max)
                        for s in report.stages
                    ],  # type: ignore[misc]
                ),
                caption="Left: seconds on the timeline; right: the whiskers span the chunks' "
                "lowest and highest speedup, the dashed line is break-even.",
            )
        )
    return out


def overhead_section(report: TimingReport) -> Section | None:
    """What starting a pool costs here, and the chunk size below which it cannot pay."""
    if not report.overhead:
        return None
    costs = [stage_cost(s.stage, report.jobs, report.overhead) for s in report.stages]
    curves = [
        (
            c.stage,
            c.model,
            c.processes,
            [
                (j.serial_wall_s, j.speedup)
                for j in report.jobs
                if j.stage == c.stage and j.chunk is not None and j.serial_wall_s and j.speedup
            ],
        )
        for c in costs
        if c is not None
    ]
    largest = report.overhead[-1]
    return Section(
        title="What a pool costs",
        text=origin(report, "bench_overhead")
        + f"Measured by bench_overhead: starting a pool of {largest.processes} (fork, "
        f"worker start, the first task's round trip, shutdown) takes {seconds(largest.start_s)}"
        f" ({_repeats(largest.repeats)}), and each further task "
        + (
            f"{seconds(largest.dispatch_us * 1e-6)} to dispatch"
            if largest.dispatch_us > 0  # 0: the tasks' time was within the start's noise
            else "too little to measure against the start's spread"
        )
        + ". A chunk's time is fitted to T(p) = start + serial + work/p with that "
        "start; a pool of p beats one process only when work > start x p / (p - 1).",
        table=overhead_table(report.overhead),
        png=plots.break_even(curves) if curves else None,
        caption="Curves: the speedup each stage's fit predicts for bigger or smaller chunks; "
        "below 1 a pool cannot pay.",
    )


def _repeats(n: int) -> str:
    """How many measurements a median is of: 'median of 5', 'one measurement'."""
    return f"median of {n}" if n != 1 else "one measurement"


def _over(points: Sequence[ScalingPoint]) -> str:
    """The process counts bench_cpu ran: '1 to 8 processes', '1 process'."""
    low, high = points[0].processes, points[-1].processes
    return f"{low} to {high} processes" if high != low else counted(low, "process", "processes")


def _amdahl(fraction: float | None) -> str:
    """The serial fraction fitted to bench_cpu, or why it says nothing (fitted at a bound)."""
    if fraction is None:
        return "No serial fraction: it needs more than one process count."
    if fraction >= 1:  # clipped: more processes were no faster than one (or slower)
        return (
            "Amdahl's-law serial fraction: not meaningful, the fit reaches the bound 1 (more "
            "processes were no faster than one)."
        )
    if fraction <= 0:
        return (
            "Amdahl's-law serial fraction: 0, the fit's lower bound (the speedup kept up with "
            "the processes)."
        )
    return f"Amdahl's-law serial fraction: {shown(fraction)}."


def bench_sections(report: TimingReport) -> list[Section]:
    """bench_cpu's scaling with its spread, and bench_ipc's costs."""
    out = []
    if report.scaling:
        model = scaling_cost(report.scaling, report.overhead)
        fit = (
            f" Fit T(p) = start + serial + work/p: start {seconds(model.start_s)}, serial "
            f"{seconds(model.serial_s)}, work {seconds(model.work_s)}."
            if model
            else ""
        )
        loads = [p.load for p in report.scaling if p.load is not None]
        busy = max(loads) if loads else None
        warn = (
            f" Taken under load (other processes kept up to {sig3(busy)} cores busy): the "
            f"speedup reads low and the serial fraction high."
            if busy is not None and busy > report.judgement.load_limit
            else ""
        )
        out.append(
            Section(
                title="CPU scaling (bench_cpu)",
                text=origin(report, "bench_cpu") + "The article's pure-Python loop split over "
                f"{_over(report.scaling)}; wall times over the repeats. "
                + _amdahl(report.serial_fraction)
                + f"{fit}{warn}",
                table=scaling_table(report.scaling, spread_limit=report.judgement.spread_limit),
                png=plots.scaling(  # a fit at the bound 1 is no curve to draw
                    report.scaling,
                    report.serial_fraction if (report.serial_fraction or 0) < 1 else None,
                ),
                caption="Dots are medians; the dashed line is perfect scaling.",
            )
        )
    if report.ipc:
        out.append(
            Section(
                title="IPC costs (bench_ipc)",
                text=origin(report, "bench_ipc") + ipc_advice(report.ipc),
                table=ipc_table(report.ipc),
                png=plots.ipc(report.ipc),
                caption="Both axes are logarithmic; higher is faster.",
            )
        )
    return out


def origin(report: TimingReport, rule: str, dataset: str | None = None) -> str:
    """'' when a rule (a bench, or a dataset's job) ran in this run, else a sentence saying which
    run it is from."""
    from poolpipe.report.runs import RunChoice
    from poolpipe.report.runs import origin as run_origin

    choice = RunChoice(run_id=report.run_id, jobs=report.jobs, others=report.others)
    return run_origin(rule, choice, dataset)


def page_sections(report: TimingReport) -> list[Section]:
    """The page's sections in order: the run, the headline, the results, then the timings."""
    out = [run_section(report)]
    text = headline(report)
    if text:
        out.append(Section(title="Headline", text=text))
    out.extend(report.sections)
    out += stage_sections(report)
    cost = overhead_section(report)
    if cost:
        out.append(cost)
    out += bench_sections(report)
    if report.changes is not None:
        out.append(
            Section(
                title="Compared with the baseline",
                text=f"Baseline: {report.baseline}. {changes_summary(report.changes)}",
                table=changes_table(report.changes),
                fold=f"Every job against the baseline ({len(report.changes)} rows)"
                if len(report.changes) > FOLD_ROWS
                else "",
            )
        )
    out.append(
        Section(
            title="Every job",
            text="One row per job of this run: its time, its start-up (Snakemake's whole-job "
            "time less the timed work), its speedup over one process, the other cores busy "
            "meanwhile (blank for a job too short to tell: under four clock ticks), its peak "
            "memory (Snakemake samples it every half second: blank for a shorter job) and exit "
            "status. timings.csv has one row per job with "
            f"{len(CSV_FIELDS)} columns: clock times, host, pid, attempt, SLURM job, CPU time, "
            "items, bytes, rates "
            "and Snakemake's seconds over its repeats.",
            table=jobs_table(report.jobs),
            fold=f"Every job ({len(report.jobs)} rows)" if len(report.jobs) > FOLD_ROWS else "",
        )
    )
    return out
