"""The page's timing sections in order: headline, timeline, stages, overhead, benches, jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from poolpipe.report import plots
from poolpipe.report.benches import ipc_advice, ipc_table, overhead_table, scaling_table
from poolpipe.report.cells import shown, sig3
from poolpipe.report.compare import changes_summary, changes_table
from poolpipe.report.explain import scaling_cost, stage_cost, stage_sentence
from poolpipe.report.jobs import jobs_table
from poolpipe.report.sections import Section
from poolpipe.report.stages import stages_table

if TYPE_CHECKING:
    from poolpipe.report.model import TimingReport


def headline(report: TimingReport) -> str:
    """One sentence: each stage's speedup on this run, with the load it was measured under."""
    parts = []
    for s in report.stages:
        if s.speedup is None:
            continue
        load = "" if s.load is None else f", other load {sig3(s.load)} cores"
        parts.append(f"{s.stage} {sig3(s.speedup)}x ({s.jobs} chunks{load})")
    if not parts:
        return ""
    cpus = f" on {report.machine.usable_cpus} usable CPUs" if report.machine else ""
    return (
        f"Pool against one process, median over chunks{cpus}: " + "; ".join(parts) + ". "
        "Load is the CPU time other processes of the machine used while a job was timed, "
        "read from /proc/stat, in cores."
    )


def stage_sections(report: TimingReport) -> list[Section]:
    """The timeline and the per-stage table, with why each speedup is what it is."""
    out = []
    if report.bars:
        out.append(
            Section(
                title="Timeline",
                text="Every timed job from its start to its end (UTC clocks of the timing "
                "records), so what ran at once and what waited is plain to see.",
                png=plots.timeline(report.bars),
                caption="A stage's time below is the stretch covered by its chunk bars: "
                "jobs that ran at once count once; hatched bars are measurement only.",
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
            )
            for s in report.stages
        ]
        out.append(
            Section(
                title="Stages",
                text="\n\n".join(
                    [
                        "Each stage's chunk jobs together: wall_s is their time on the "
                        "timeline, span_s from the first start to the last end; throughput "
                        "in MB/s and in the stage's own unit; speedup is the median over "
                        "chunks of one-process time / pool time, with its range, IQR, the "
                        "load it ran under and what the spread lets you conclude.",
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
        text=f"Measured by bench_overhead: starting a pool of {largest.processes} (fork, "
        f"worker start, the first task's round trip, shutdown) takes {sig3(largest.start_s * 1e3)}"
        f" ms (median of {largest.repeats}), and each further task {sig3(largest.dispatch_us)} "
        f"µs to dispatch. A chunk's time is fitted to T(p) = start + serial + work/p with that "
        f"start; a pool of p beats one process only when work > start x p / (p - 1).",
        table=overhead_table(report.overhead),
        png=plots.break_even(curves) if curves else None,
        caption="Curves: the speedup each stage's fit predicts for bigger or smaller chunks; "
        "below 1 a pool cannot pay.",
    )


def bench_sections(report: TimingReport) -> list[Section]:
    """bench_cpu's scaling with its spread, and bench_ipc's costs."""
    out = []
    if report.scaling:
        model = scaling_cost(report.scaling, report.overhead)
        fit = (
            f" Fit T(p) = start + serial + work/p: start {sig3(model.start_s * 1e3)} ms, serial "
            f"{sig3(model.serial_s)} s, work {sig3(model.work_s)} s."
            if model
            else ""
        )
        loads = [p.load for p in report.scaling if p.load is not None]
        busy = max(loads) if loads else None
        warn = (
            f" Taken under load (other processes kept up to {sig3(busy)} cores busy): the "
            f"speedup and the serial fraction read low."
            if busy is not None and busy > report.judgement.load_limit
            else ""
        )
        out.append(
            Section(
                title="CPU scaling (bench_cpu)",
                text=f"The seed's pure-Python loop split over 1 to "
                f"{report.scaling[-1].processes} processes; wall times over the repeats. "
                f"Amdahl's-law serial fraction: {shown(report.serial_fraction)}.{fit}{warn}",
                table=scaling_table(report.scaling, spread_limit=report.judgement.spread_limit),
                png=plots.scaling(report.scaling, report.serial_fraction),
                caption="Dots are medians; the dashed line is perfect scaling.",
            )
        )
    if report.ipc:
        out.append(
            Section(
                title="IPC costs (bench_ipc)",
                text=ipc_advice(report.ipc),
                table=ipc_table(report.ipc),
                png=plots.ipc(report.ipc),
                caption="Both axes are logarithmic; higher is faster.",
            )
        )
    return out


def page_sections(report: TimingReport) -> list[Section]:
    """The page's sections in order, each with its plot and the table it was drawn from."""
    out = []
    text = headline(report)
    if text:
        out.append(Section(title="Headline", text=text))
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
            )
        )
    out.extend(report.sections)
    out.append(
        Section(
            title="Every job",
            text="One row per job, as in timings.csv (which also has the one-process rerun's "
            "clock times): its trace (UTC start and end, host, pid, Snakemake attempt, SLURM "
            "job, exit status), CPU share of what it was given, the load it ran under, and "
            "Snakemake's benchmark seconds over its repeats.",
            table=jobs_table(report.jobs),
        )
    )
    return out
