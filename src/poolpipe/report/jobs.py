"""Jobs' timings: timing records joined with Snakemake's benchmark files, per job and per stage."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from poolpipe.core.timing import TimingRecord, read_record
from poolpipe.report.cells import cell, shown


@dataclass(frozen=True, kw_only=True)
class JobRow:
    """One job's timings: a row of timings.csv."""

    stage: str
    rule: str
    dataset: str | None
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


@dataclass(frozen=True, kw_only=True)
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


def dataset_of(record_path: str | os.PathLike[str], record: TimingRecord) -> str | None:
    """The dataset a record's path names: results/timing/<rule>/<dataset>[/<chunk>].json."""
    parts = Path(record_path).with_suffix("").parts
    after = parts[len(parts) - parts[::-1].index("timing") :]
    if len(after) == 3 or (len(after) == 2 and record.chunk is None):
        return after[1]
    return None


def job_row(
    record: TimingRecord, bench: dict[str, float | None] | None, dataset: str | None = None
) -> JobRow:
    """Join a timing record with its job's benchmark measurements."""
    bench = bench or {}
    speedup = (
        record.serial_wall_s / record.wall_s if record.serial_wall_s and record.wall_s else None
    )
    return JobRow(
        stage=record.stage,
        rule=record.rule,
        dataset=dataset,
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
    """results/timing/<rule>[/<dataset>][/<chunk>].json -> the same under results/benchmarks/."""
    parts = Path(record_path).with_suffix(".tsv").parts
    i = len(parts) - 1 - parts[::-1].index("timing")
    return Path(*parts[:i], "benchmarks", *parts[i + 1 :])


def collect_jobs(record_paths: Iterable[str | os.PathLike[str]]) -> list[JobRow]:
    """Rows for every record, with its benchmark file where Snakemake wrote one."""
    rows = []
    for path in record_paths:
        bench_path = benchmark_path_for(path)
        bench = read_benchmark(bench_path) if bench_path.exists() else None
        record = read_record(path)
        rows.append(job_row(record, bench, dataset_of(path, record)))
    return sorted(
        rows,
        key=lambda r: (r.stage, r.rule, r.dataset or "", -1 if r.chunk is None else r.chunk),
    )


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
