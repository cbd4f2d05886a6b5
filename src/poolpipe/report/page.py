"""The timing report, built only from timing records, benchmark files and the benches."""

from __future__ import annotations

import base64
import csv
import html
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from poolpipe.bench import IpcPoint, ScalingPoint, amdahl_serial_fraction
from poolpipe.core import tsv
from poolpipe.core.outputs import write_atomic
from poolpipe.core.timing import TimingRecord, read_record
from poolpipe.report.machine import Machine

MISSING = "missing"
"""How the page shows a measurement that was not taken (the CSV leaves the cell empty)."""


@dataclass(frozen=True)
class JobRow:
    """One job's timings: a row of timings.csv."""

    stage: str
    rule: str
    chunk: int | None
    processes: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float | None
    items: int
    bytes: int
    throughput_mb_s: float | None
    serial_wall_s: float | None
    speedup: float | None
    efficiency: float | None
    job_s: float | None


CSV_FIELDS = tuple(f.name for f in fields(JobRow))


@dataclass(frozen=True)
class StageRow:
    """A stage's pool jobs taken together."""

    stage: str
    jobs: int
    wall_s: float
    items: int
    bytes: int
    throughput_mb_s: float | None
    serial_wall_s: float | None
    speedup: float | None


@dataclass
class Section:
    """A titled part of the page: prose, an optional table and an optional plot."""

    title: str
    text: str = ""
    table: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None
    png: bytes | None = None
    caption: str = ""


@dataclass
class Report:
    """Everything the page, the CSV and the summary show."""

    jobs: list[JobRow]
    stages: list[StageRow]
    scaling: list[ScalingPoint] = field(default_factory=list)
    serial_fraction: float | None = None
    ipc: list[IpcPoint] = field(default_factory=list)
    machine: Machine | None = None
    sections: list[Section] = field(default_factory=list)


def cell(value: object) -> str:
    """The one text form of a value, shared by the CSV, the page and the summary."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def shown(value: object) -> str:
    """A value as the page shows it: the CSV's text, or 'missing'."""
    text = cell(value)
    return text if text else MISSING


def read_benchmark(path: str | os.PathLike[str]) -> dict[str, float | None]:
    """The first row of a Snakemake benchmark TSV, numbers as floats and 'NA' as None."""
    with Path(path).open(newline="") as fh:
        row = next(csv.DictReader(fh, delimiter="\t"), None)
    if row is None:
        return {}
    out: dict[str, float | None] = {}
    for key, value in row.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            out[key] = None
    return out


def job_row(record: TimingRecord, bench: dict[str, float | None] | None) -> JobRow:
    """Join a timing record with its job's benchmark measurements."""
    bench = bench or {}
    speedup = (
        record.serial_wall_s / record.wall_s if record.serial_wall_s and record.wall_s else None
    )
    return JobRow(
        stage=record.stage,
        rule=record.rule,
        chunk=record.chunk,
        processes=record.processes,
        wall_s=record.wall_s,
        cpu_s=record.cpu_s,
        max_rss_mb=bench.get("max_rss"),
        items=record.items,
        bytes=record.bytes,
        throughput_mb_s=record.bytes / record.wall_s / 1e6
        if record.bytes and record.wall_s
        else None,
        serial_wall_s=record.serial_wall_s,
        speedup=speedup,
        efficiency=speedup / record.processes if speedup else None,
        job_s=bench.get("s"),
    )


def benchmark_path_for(record_path: str | os.PathLike[str]) -> Path:
    """results/timing/<rule>[/<chunk>].json -> results/benchmarks/<rule>[/<chunk>].tsv."""
    parts = Path(record_path).with_suffix(".tsv").parts
    i = len(parts) - 1 - parts[::-1].index("timing")
    return Path(*parts[:i], "benchmarks", *parts[i + 1 :])


def collect_jobs(record_paths: Iterable[str | os.PathLike[str]]) -> list[JobRow]:
    """Rows for every record, with its benchmark file where Snakemake wrote one."""
    rows = []
    for path in record_paths:
        bench_path = benchmark_path_for(path)
        bench = read_benchmark(bench_path) if bench_path.exists() else None
        rows.append(job_row(read_record(path), bench))
    return sorted(rows, key=lambda r: (r.stage, r.rule, -1 if r.chunk is None else r.chunk))


def stage_rows(jobs: Sequence[JobRow]) -> list[StageRow]:
    """Per stage, its chunk jobs (the ones that run a pool over the data), taken together."""
    out = []
    for stage in sorted({j.stage for j in jobs}):
        mine = [j for j in jobs if j.stage == stage and j.chunk is not None]
        if not mine:
            continue
        wall = sum(j.wall_s for j in mine)
        size = sum(j.bytes for j in mine)
        serials = [j.serial_wall_s for j in mine]
        serial = sum(serials) if all(s is not None for s in serials) else None  # type: ignore[misc]
        out.append(
            StageRow(
                stage=stage,
                jobs=len(mine),
                wall_s=wall,
                items=sum(j.items for j in mine),
                bytes=size,
                throughput_mb_s=size / wall / 1e6 if wall else None,
                serial_wall_s=serial,
                speedup=serial / wall if serial and wall else None,
            )
        )
    return out


def write_rows_tsv(path: str | os.PathLike[str], rows: Sequence[object]) -> None:
    """Write dataclass rows as a TSV with a header (the benches' own result files)."""
    tsv.write_records(path, rows)


def read_scaling(path: str | os.PathLike[str]) -> list[ScalingPoint]:
    """Read bench_cpu's TSV."""
    with Path(path).open(newline="") as fh:
        return [
            ScalingPoint(
                processes=int(r["processes"]),
                wall_s=float(r["wall_s"]),
                runs=tuple(float(v) for v in r["runs"].split(",") if v),
                speedup=float(r["speedup"]),
                efficiency=float(r["efficiency"]),
            )
            for r in csv.DictReader(fh, delimiter="\t")
        ]


def read_ipc(path: str | os.PathLike[str]) -> list[IpcPoint]:
    """Read bench_ipc's TSV."""
    with Path(path).open(newline="") as fh:
        return [
            IpcPoint(
                method=r["method"],
                size=int(r["size"]),
                messages=int(r["messages"]),
                latency_us=float(r["latency_us"]),
                throughput_mb_s=float(r["throughput_mb_s"]),
            )
            for r in csv.DictReader(fh, delimiter="\t")
        ]


def timings_csv(jobs: Sequence[JobRow]) -> str:
    """timings.csv: one row per job."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for job in jobs:
        writer.writerow([cell(v) for v in asdict(job).values()])
    return buf.getvalue()


def jobs_table(jobs: Sequence[JobRow]) -> tuple[list[str], list[list[str]]]:
    """The page's table of every job, cell for cell the CSV's values."""
    return list(CSV_FIELDS), [[shown(v) for v in asdict(j).values()] for j in jobs]


def stages_table(stages: Sequence[StageRow]) -> tuple[list[str], list[list[str]]]:
    """Per-stage wall time, throughput and pool-vs-single-process speedup."""
    names = [f.name for f in fields(StageRow)]
    return names, [[shown(v) for v in asdict(s).values()] for s in stages]


def scaling_table(points: Sequence[ScalingPoint]) -> tuple[list[str], list[list[str]]]:
    """bench_cpu's medians."""
    head = ["processes", "wall_s", "speedup", "efficiency", "runs"]
    rows = [
        [cell(p.processes), cell(p.wall_s), cell(p.speedup), cell(p.efficiency), str(len(p.runs))]
        for p in points
    ]
    return head, rows


def ipc_table(points: Sequence[IpcPoint]) -> tuple[list[str], list[list[str]]]:
    """bench_ipc's results, with the fastest method per size marked."""
    best = {}
    for p in points:
        if p.size not in best or p.latency_us < best[p.size].latency_us:
            best[p.size] = p
    head = ["size", "method", "latency_us", "throughput_mb_s", "messages", "fastest"]
    rows = [
        [
            human_size(p.size),
            p.method,
            cell(p.latency_us),
            cell(p.throughput_mb_s),
            cell(p.messages),
            "yes" if best[p.size] is p else "",
        ]
        for p in sorted(points, key=lambda p: (p.size, p.latency_us))
    ]
    return head, rows


def human_size(size: int) -> str:
    """1024 -> '1 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:g} {unit}"
        size //= 1024
    return f"{size} B"


def ipc_advice(points: Sequence[IpcPoint]) -> str:
    """Which method to pick, read off the measurements."""
    if not points:
        return ""
    sizes = sorted({p.size for p in points})
    best = {s: min((p for p in points if p.size == s), key=lambda p: p.latency_us) for s in sizes}
    text = "Fastest way to hand a message to another process, by size (measured here): "
    text += "; ".join(f"{human_size(s)}: {best[s].method}" for s in sizes) + "."
    pipe = {p.size: p for p in points if p.method == "pipe"}
    slow = [s for s in sizes if s in pipe and pipe[s].latency_us > 2 * best[s].latency_us]
    if slow:
        text += (
            f" From {human_size(slow[0])} up, a Pipe takes more than twice as long as the "
            f"fastest method, because the bytes are copied through the kernel; below that, "
            f"every method costs about one round trip, so the simplest (a Pipe or a Queue) "
            f"will do. poolpipe's workers get byte ranges of files already on disk (the "
            f"file_offset row), so no data crosses between processes."
        )
    return text


def summary_markdown(report: Report) -> str:
    """summary.md: the same numbers as the page, as Markdown tables."""
    out = ["# poolpipe timing summary", ""]
    if report.machine:
        out += [f"Measured on: {report.machine.line()}.", ""]
    out += [*_md_table(*stages_table(report.stages)), ""]
    if report.scaling:
        fraction = cell(report.serial_fraction) or MISSING
        out += ["## CPU scaling (bench_cpu)", "", f"Amdahl serial fraction: {fraction}", ""]
        out += [*_md_table(*scaling_table(report.scaling)), ""]
    if report.ipc:
        out += ["## IPC costs (bench_ipc)", "", ipc_advice(report.ipc), ""]
        out += [*_md_table(*ipc_table(report.ipc)), ""]
    for section in report.sections:
        out += [f"## {section.title}", ""]
        if section.text:
            out += [section.text, ""]
        if section.table:
            out += [*_md_table(*section.table), ""]
    out += ["## Every job", "", *_md_table(*jobs_table(report.jobs))]
    return "\n".join(out) + "\n"


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]], css: str = "") -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f'<table class="{css}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _html_section(section: Section) -> str:
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    if section.text:
        parts.append(f"<p>{html.escape(section.text)}</p>")
    if section.png:
        data = base64.b64encode(section.png).decode()
        alt = html.escape(section.caption or section.title)
        parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">')
        parts.append(f"<figcaption>{alt}</figcaption></figure>")
    if section.table:
        parts.append(_html_table(*section.table))
    parts.append("</section>")
    return "".join(parts)


STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}.machine{color:#555}
table{border-collapse:collapse;margin:1rem 0;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}figcaption{color:#555}
"""


def render_html(report: Report, sections: Sequence[Section]) -> str:
    """The self-contained page: every plot embedded, no network needed."""
    machine = html.escape(report.machine.line()) if report.machine else MISSING
    body = "".join(_html_section(s) for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>poolpipe timing report</title><style>{STYLE}</style></head><body>"
        "<h1>poolpipe timing report</h1>"
        f'<p class="machine">Measured on: {machine}.</p>'
        f"{body}</body></html>\n"
    )


def page_sections(report: Report) -> list[Section]:
    """The page's sections in order, each with its plot and the table it was drawn from."""
    from poolpipe.report import plots

    out = []
    if report.stages:
        out.append(
            Section(
                "Stages",
                "Each stage's pool jobs taken together: wall time, throughput, and, where "
                "timing.compare_serial was on, the same work timed in one process.",
                stages_table(report.stages),
                plots.stage_times(
                    [s.stage for s in report.stages],
                    [s.wall_s for s in report.stages],
                    [s.throughput_mb_s for s in report.stages],
                ),
                "Wall time and throughput per stage",
            )
        )
        compared = [s for s in report.stages if s.serial_wall_s is not None]
        if compared:
            out.append(
                Section(
                    "Pool vs single process",
                    "Speedup = one-process wall time / pool wall time, per stage.",
                    None,
                    plots.pool_vs_serial(
                        [s.stage for s in compared],
                        [s.serial_wall_s for s in compared],  # type: ignore[misc]
                        [s.wall_s for s in compared],
                    ),
                    "Pool vs single process",
                )
            )
    if report.scaling:
        fraction = cell(report.serial_fraction) or MISSING
        out.append(
            Section(
                "CPU scaling (bench_cpu)",
                f"The seed's pure-Python loop split over 1 to {report.scaling[-1].processes} "
                f"processes; medians of the repeats. Amdahl's-law serial fraction: {fraction}.",
                scaling_table(report.scaling),
                plots.scaling(report.scaling, report.serial_fraction),
                "Speedup against processes, with the Amdahl fit",
            )
        )
    if report.ipc:
        out.append(
            Section(
                "IPC costs (bench_ipc)",
                ipc_advice(report.ipc),
                ipc_table(report.ipc),
                plots.ipc(report.ipc),
                "Throughput by message size and method",
            )
        )
    out.extend(report.sections)
    out.append(Section("Every job", "One row per job, as in timings.csv.", jobs_table(report.jobs)))
    return out


def build(
    record_paths: Iterable[str | os.PathLike[str]],
    scaling_tsv: str | os.PathLike[str] | None,
    ipc_tsv: str | os.PathLike[str] | None,
    machine: Machine | None,
    sections: Sequence[Section] = (),
) -> Report:
    """Gather every measurement the report shows."""
    jobs = collect_jobs(record_paths)
    points = read_scaling(scaling_tsv) if scaling_tsv else []
    return Report(
        jobs=jobs,
        stages=stage_rows(jobs),
        scaling=points,
        serial_fraction=amdahl_serial_fraction(points) if len(points) > 1 else None,
        ipc=read_ipc(ipc_tsv) if ipc_tsv else [],
        machine=machine,
        sections=list(sections),
    )


def write(report: Report, html_path: str, csv_path: str, summary_path: str) -> None:
    """Write report.html, timings.csv and summary.md."""
    write_atomic(csv_path, timings_csv(report.jobs))
    write_atomic(summary_path, summary_markdown(report))
    write_atomic(html_path, render_html(report, page_sections(report)))


def train_section(model: dict) -> Section:
    """Each merge method's largest difference from scikit-learn's fit on all rows."""
    from poolpipe.report import plots

    diffs = model.get("max_abs_diff_from_full_fit")
    title = "Train: averaged vs exact merge"
    if not diffs:
        return Section(
            title, "No full fit to compare with (train.compare_full_fit is off): missing."
        )
    methods = list(diffs)
    rows = [[m, cell(diffs[m]["coef"]), cell(diffs[m]["intercept"])] for m in methods]
    worst = [max(diffs[m]["coef"], diffs[m]["intercept"]) for m in methods]
    return Section(
        title,
        f"Largest absolute difference of each method's coefficients and intercept from "
        f"scikit-learn's fit on all {model['rows']} rows, over {model['chunks']} chunks.",
        (["method", "coef", "intercept"], rows),
        plots.bars(
            methods,
            [max(w, 1e-17) for w in worst],
            "max |difference| from the full fit",
            "Train error by merge method",
            log=True,
        ),
        "Train error of the averaged vs exact merge",
    )


def crawl_section(pages_tsv: str | os.PathLike[str], summary: dict) -> Section:
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
        "Crawl: latency distribution",
        f"Time from the first request to the last byte, per fetched URL "
        f"({summary.get('ok', 0)} ok, {summary.get('errors', 0)} error rows).",
        (head, [row]),
        plots.histogram(elapsed, "elapsed ms per URL", "Crawl latency") if elapsed else None,
        "Crawl latency distribution",
    )
