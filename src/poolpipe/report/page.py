"""The timing report, built only from timing records, benchmark files and the benches."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from poolpipe.bench import amdahl_serial_fraction
from poolpipe.core.outputs import write_atomic
from poolpipe.report.benches import read_ipc, read_overhead, read_scaling
from poolpipe.report.compare import compare, read_baseline
from poolpipe.report.jobs import collect_jobs, timings_csv
from poolpipe.report.machine import Machine
from poolpipe.report.overview import page_sections
from poolpipe.report.render import Judgement, TimingReport, render_html, summary_markdown
from poolpipe.report.runs import choose_run, when
from poolpipe.report.sections import Section
from poolpipe.report.stages import stage_rows, timeline


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
    run: str | None = None,
) -> TimingReport:
    """Gather every measurement of one run (`run`, else the latest) that the report shows (a
    bench's TSV or the baseline may be left out); a record that does not hold up is skipped and
    said, never shown."""
    judgement = judgement or Judgement()
    old, skipped_rows = read_baseline(baseline) if baseline else (None, [])
    found, skipped = collect_jobs(record_paths)
    choice = choose_run(found, run)
    jobs = choice.jobs
    points = read_scaling(scaling_tsv) if scaling_tsv else []
    return TimingReport(
        run_id=choice.run_id,
        run_when=when(choice.run_id, jobs),
        others=choice.others,
        skipped=skipped + skipped_rows,
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
    sections = page_sections(report)
    write_atomic(csv_path, timings_csv(report.jobs))
    write_atomic(summary_path, summary_markdown(report, sections))
    write_atomic(html_path, render_html(report, sections))
