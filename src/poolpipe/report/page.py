"""The timing report, built only from timing records, benchmark files and the benches."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from poolpipe.bench import IpcPoint, ScalingPoint, amdahl_serial_fraction
from poolpipe.core.outputs import write_atomic
from poolpipe.report.benches import read_ipc, read_scaling
from poolpipe.report.jobs import JobRow, StageRow, collect_jobs, stage_rows, timings_csv
from poolpipe.report.machine import Machine
from poolpipe.report.render import render_html, summary_markdown
from poolpipe.report.sections import Section, page_sections


@dataclass(kw_only=True)
class TimingReport:
    """Everything the page, the CSV and the summary show."""

    jobs: list[JobRow]
    stages: list[StageRow]
    scaling: list[ScalingPoint] = field(default_factory=list)
    serial_fraction: float | None = None
    ipc: list[IpcPoint] = field(default_factory=list)
    machine: Machine | None = None
    sections: list[Section] = field(default_factory=list)


def build(
    record_paths: Iterable[str | os.PathLike[str]],
    *,
    scaling_tsv: str | os.PathLike[str] | None = None,
    ipc_tsv: str | os.PathLike[str] | None = None,
    machine: Machine | None = None,
    sections: Sequence[Section] = (),
) -> TimingReport:
    """Gather every measurement the report shows (a bench's TSV may be left out)."""
    jobs = collect_jobs(record_paths)
    points = read_scaling(scaling_tsv) if scaling_tsv else []
    return TimingReport(
        jobs=jobs,
        stages=stage_rows(jobs),
        scaling=points,
        serial_fraction=amdahl_serial_fraction(points) if len(points) > 1 else None,
        ipc=read_ipc(ipc_tsv) if ipc_tsv else [],
        machine=machine,
        sections=list(sections),
    )


def write(report: TimingReport, *, html_path: str, csv_path: str, summary_path: str) -> None:
    """Write report.html, timings.csv and summary.md."""
    write_atomic(csv_path, timings_csv(report.jobs))
    write_atomic(summary_path, summary_markdown(report))
    write_atomic(html_path, render_html(report, page_sections(report)))
