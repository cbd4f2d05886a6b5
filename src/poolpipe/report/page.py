"""The timing report, built only from timing records, benchmark files and the benches."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from poolpipe.bench import IpcPoint, OverheadPoint, ScalingPoint, amdahl_serial_fraction
from poolpipe.core.outputs import write_atomic
from poolpipe.report.benches import read_ipc, read_overhead, read_scaling
from poolpipe.report.compare import Change, compare, read_baseline
from poolpipe.report.jobs import JobRow, collect_jobs, timings_csv
from poolpipe.report.machine import Machine
from poolpipe.report.render import render_html, summary_markdown
from poolpipe.report.sections import Section
from poolpipe.report.stages import Bar, StageRow, stage_rows, timeline


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """How the report judges its numbers: spread, load, and a change against a baseline."""

    spread_limit: float = 0.25
    load_limit: float = 0.25
    compare_factor: float = 1.1


@dataclass(kw_only=True)
class TimingReport:
    """Everything the page, the CSV and the summary show."""

    jobs: list[JobRow]
    stages: list[StageRow]
    bars: list[Bar] = field(default_factory=list)
    scaling: list[ScalingPoint] = field(default_factory=list)
    serial_fraction: float | None = None
    ipc: list[IpcPoint] = field(default_factory=list)
    overhead: list[OverheadPoint] = field(default_factory=list)
    changes: list[Change] | None = None
    baseline: str | None = None
    judgement: Judgement = field(default_factory=Judgement)
    machine: Machine | None = None
    sections: list[Section] = field(default_factory=list)


def build(
    record_paths: Iterable[str | os.PathLike[str]],
    *,
    scaling_tsv: str | os.PathLike[str] | None = None,
    ipc_tsv: str | os.PathLike[str] | None = None,
    overhead_tsv: str | os.PathLike[str] | None = None,
    baseline: str | os.PathLike[str] | None = None,
    judgement: Judgement | None = None,
    machine: Machine | None = None,
    sections: Sequence[Section] = (),
) -> TimingReport:
    """Gather every measurement the report shows (a bench's TSV or the baseline may be left out)."""
    judgement = judgement or Judgement()
    old = read_baseline(baseline) if baseline else None
    jobs = collect_jobs(record_paths)
    points = read_scaling(scaling_tsv) if scaling_tsv else []
    return TimingReport(
        jobs=jobs,
        stages=stage_rows(
            jobs, spread_limit=judgement.spread_limit, load_limit=judgement.load_limit
        ),
        bars=timeline(jobs),
        scaling=points,
        serial_fraction=amdahl_serial_fraction(points) if len(points) > 1 else None,
        ipc=read_ipc(ipc_tsv) if ipc_tsv else [],
        overhead=read_overhead(overhead_tsv) if overhead_tsv else [],
        changes=compare(jobs, old, factor=judgement.compare_factor) if old is not None else None,
        baseline=str(baseline) if baseline else None,
        judgement=judgement,
        machine=machine,
        sections=list(sections),
    )


def write(report: TimingReport, *, html_path: str, csv_path: str, summary_path: str) -> None:
    """Write report.html, timings.csv and summary.md."""
    from poolpipe.report.overview import page_sections

    sections = page_sections(report)
    write_atomic(csv_path, timings_csv(report.jobs))
    write_atomic(summary_path, summary_markdown(report, sections))
    write_atomic(html_path, render_html(report, sections))
