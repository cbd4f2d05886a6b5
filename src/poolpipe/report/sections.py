"""The page's sections, each a titled text with the table and the plot drawn from it."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from poolpipe.report.benches import ipc_advice, ipc_table, scaling_table
from poolpipe.report.cells import cell, shown
from poolpipe.report.jobs import jobs_table, stages_table

if TYPE_CHECKING:
    from poolpipe.report.page import TimingReport


@dataclass(kw_only=True)
class Section:
    """A titled part of the page: prose, an optional table and an optional plot."""

    title: str
    text: str = ""
    table: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None
    png: bytes | None = None
    caption: str = ""


def page_sections(report: TimingReport) -> list[Section]:
    """The page's sections in order, each with its plot and the table it was drawn from."""
    from poolpipe.report import plots

    out = []
    if report.stages:
        out.append(
            Section(
                title="Stages",
                text="Each stage's pool jobs taken together: wall time, throughput, and, where "
                "timing.compare_serial was on, the same work timed in one process.",
                table=stages_table(report.stages),
                png=plots.stage_times(
                    [s.stage for s in report.stages],
                    [s.wall_s for s in report.stages],
                    [s.throughput_mb_s for s in report.stages],
                ),
                caption="Wall time and throughput per stage",
            )
        )
        compared = [s for s in report.stages if s.serial_wall_s is not None]
        if compared:
            out.append(
                Section(
                    title="Pool vs single process",
                    text="Speedup = one-process wall time / pool wall time, per stage.",
                    png=plots.pool_vs_serial(
                        [s.stage for s in compared],
                        [s.serial_wall_s for s in compared],  # type: ignore[misc]
                        [s.wall_s for s in compared],
                    ),
                    caption="Pool vs single process",
                )
            )
    if report.scaling:
        out.append(
            Section(
                title="CPU scaling (bench_cpu)",
                text=f"The seed's pure-Python loop split over 1 to "
                f"{report.scaling[-1].processes} processes; medians of the repeats. "
                f"Amdahl's-law serial fraction: {shown(report.serial_fraction)}.",
                table=scaling_table(report.scaling),
                png=plots.scaling(report.scaling, report.serial_fraction),
                caption="Speedup against processes, with the Amdahl fit",
            )
        )
    if report.ipc:
        out.append(
            Section(
                title="IPC costs (bench_ipc)",
                text=ipc_advice(report.ipc),
                table=ipc_table(report.ipc),
                png=plots.ipc(report.ipc),
                caption="Throughput by message size and method",
            )
        )
    out.extend(report.sections)
    out.append(
        Section(
            title="Every job",
            text="One row per job, as in timings.csv.",
            table=jobs_table(report.jobs),
        )
    )
    return out


def _named(title: str, dataset: str | None) -> str:
    """A section's title, with the dataset it shows where there is one."""
    return f"{title} ({dataset})" if dataset else title


def train_section(model: dict, *, dataset: str | None = None) -> Section:
    """Each merge method's largest difference from scikit-learn's fit on all rows."""
    from poolpipe.report import plots

    diffs = model.get("max_abs_diff_from_full_fit")
    title = _named("Train: averaged vs exact merge", dataset)
    if not diffs:
        return Section(
            title=title,
            text="No full fit to compare with (train.compare_full_fit is off): missing.",
        )
    methods = list(diffs)
    rows = [[m, cell(diffs[m]["coef"]), cell(diffs[m]["intercept"])] for m in methods]
    worst = [max(diffs[m]["coef"], diffs[m]["intercept"]) for m in methods]
    return Section(
        title=title,
        text=f"Largest absolute difference of each method's coefficients and intercept from "
        f"scikit-learn's fit on all {model['rows']} rows, over {model['chunks']} chunks.",
        table=(["method", "coef", "intercept"], rows),
        png=plots.bars(
            methods,
            [max(w, 1e-17) for w in worst],
            ylabel="max |difference| from the full fit",
            title="Train error by merge method",
            log=True,
        ),
        caption="Train error of the averaged vs exact merge",
    )


def crawl_section(
    pages_tsv: str | os.PathLike[str], summary: dict, *, dataset: str | None = None
) -> Section:
    """The distribution of fetch latencies, with the crawl's own percentiles."""
    from poolpipe.report import plots

    with Path(pages_tsv).open(newline="") as fh:
        elapsed = [
            float(r["elapsed_ms"]) for r in csv.DictReader(fh, delimiter="\t") if r["elapsed_ms"]
        ]
    latency = summary.get("timing", {}).get("latency_ms", {})
    head = ["fetched rows", "p50 ms", "p90 ms", "p99 ms", "max ms", "pages/s"]
    row = [
        str(len(elapsed)),
        *(shown(latency.get(k)) for k in ("p50", "p90", "p99", "max")),
        shown(summary.get("timing", {}).get("pages_per_s")),
    ]
    return Section(
        title=_named("Crawl: latency distribution", dataset),
        text=f"Time from the first request to the last byte, per fetched URL "
        f"({summary.get('ok', 0)} ok, {summary.get('errors', 0)} error rows).",
        table=(head, [row]),
        png=plots.histogram(elapsed, "elapsed ms per URL", "Crawl latency") if elapsed else None,
        caption="Crawl latency distribution",
    )
