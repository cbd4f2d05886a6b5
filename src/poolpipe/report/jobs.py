"""Jobs' timings: timing records joined with Snakemake's benchmark files, one row per job."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from poolpipe.core.inputs import read_small_file
from poolpipe.core.timing import TimingRecord, read_record
from poolpipe.errors import PoolpipeError
from poolpipe.report.cells import cell, cores, seconds, size, spread_of, times


@dataclass(frozen=True, kw_only=True)
class JobRow:
    """One job's timings and trace: a row of timings.csv."""

    stage: str
    rule: str
    dataset: str | None
    chunk: int | None
    processes: int
    started_at: str | None
    ended_at: str | None
    host: str | None
    pid: int | None
    attempt: int | None
    slurm_job_id: str | None
    exit_status: int
    wall_s: float
    cpu_s: float
    cpu_share: float | None
    load: float | None
    max_rss_mb: float | None
    items: int
    bytes: int
    mb_s: float | None
    items_per_s: float | None
    serial_wall_s: float | None
    serial_load: float | None
    speedup: float | None
    efficiency: float | None
    job_s: float | None
    job_s_min: float | None
    job_s_max: float | None
    job_s_iqr: float | None
    job_runs: int
    serial_started_at: str | None = None
    serial_ended_at: str | None = None
    run_id: str | None = None
    serial_note: str | None = None

    @property
    def name(self) -> str:
        """The job as a reader names it: 'sum_chunk numbers [3]'."""
        text = self.rule + (f" {self.dataset}" if self.dataset else "")
        return text + (f" [{self.chunk}]" if self.chunk is not None else "")

    @property
    def startup_s(self) -> float | None:
        """The job's time outside its timed work (interpreter, imports, reading the manifest):
        Snakemake's whole-job seconds less the record's, where both were measured."""
        if self.job_s is None:
            return None
        serial = self.serial_wall_s or 0.0
        return max(0.0, self.job_s - self.wall_s - serial)


CSV_FIELDS = tuple(f.name for f in fields(JobRow))
PAGE_HEAD = ("job", "processes", "time", "start-up", "speedup", "other load", "memory", "exit")
"""The page's columns of every job; the other columns are in timings.csv."""


@dataclass(frozen=True, kw_only=True)
class Skipped:
    """A file the report could not use, and why."""

    path: str
    why: str


BENCHMARK_LIMIT = 1 << 20
"""The largest Snakemake benchmark file read (bytes): one line per repeat."""


def read_benchmark(path: str | os.PathLike[str]) -> list[dict[str, float | None]]:
    """Every row of a Snakemake benchmark TSV (one per repeat), numbers as floats, 'NA' as None."""
    data = read_small_file(path, label="benchmark file", limit=BENCHMARK_LIMIT)
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8")), delimiter="\t"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"benchmark file {os.fspath(path)!r} is not a TSV ({exc})") from None
    out = []
    for row in rows:
        values: dict[str, float | None] = {}
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
            values[key] = number if number is not None and 0 <= number <= 1e12 else None
        out.append(values)
    return out


def dataset_of(record_path: str | os.PathLike[str], record: TimingRecord) -> str | None:
    """The dataset a record's path names: results/timing/<rule>/<dataset>[/<chunk>].json."""
    parts = Path(record_path).with_suffix("").parts
    if "timing" not in parts:
        return None
    after = parts[len(parts) - parts[::-1].index("timing") :]
    if len(after) == 3 or (len(after) == 2 and record.chunk is None):
        return after[1]
    return None


def _ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num and den else None


RSS_SAMPLE_S = 0.5
"""Snakemake samples a job's memory every half second: in a shorter job its one sample may
catch the process before Python has started (0.2 MB), so its peak is not shown."""


def sampled(job_s: float | None) -> bool:
    """Whether a job ran long enough for Snakemake's memory samples to mean something."""
    return job_s is not None and job_s >= RSS_SAMPLE_S


def job_row(
    record: TimingRecord,
    bench: Sequence[dict[str, float | None]] | None,
    dataset: str | None = None,
) -> JobRow:
    """Join a timing record with its job's benchmark measurements (every repeat)."""
    bench = list(bench or [])
    job_s = spread_of([b["s"] for b in bench if b.get("s") is not None])
    rss = [b["max_rss"] for b in bench if b.get("max_rss") is not None and sampled(b.get("s"))]
    speedup = _ratio(record.serial_wall_s, record.wall_s)
    return JobRow(
        stage=record.stage,
        rule=record.rule,
        dataset=dataset,
        chunk=record.chunk,
        processes=record.processes,
        started_at=record.started_at,
        ended_at=record.ended_at,
        host=record.host,
        pid=record.pid,
        attempt=record.attempt,
        slurm_job_id=record.slurm_job_id,
        exit_status=record.exit_status,
        wall_s=record.wall_s,
        cpu_s=record.cpu_s,
        cpu_share=_ratio(record.cpu_s, record.wall_s * record.processes),
        load=record.load,
        max_rss_mb=max(rss) if rss else None,
        items=record.items,
        bytes=record.bytes,
        mb_s=_ratio(record.bytes / 1e6, record.wall_s),
        items_per_s=_ratio(record.items, record.wall_s),
        serial_wall_s=record.serial_wall_s,
        serial_load=record.serial_load,
        speedup=speedup,
        efficiency=speedup / record.processes if speedup else None,
        job_s=job_s.median if job_s else None,
        job_s_min=job_s.min if job_s else None,
        job_s_max=job_s.max if job_s else None,
        job_s_iqr=job_s.iqr if job_s else None,
        job_runs=job_s.n if job_s else 0,
        serial_started_at=record.serial_started_at,
        serial_ended_at=record.serial_ended_at,
        run_id=record.run_id,
        serial_note=record.serial_note,
    )


def benchmark_path_for(record_path: str | os.PathLike[str]) -> Path:
    """results/timing/<rule>[/<dataset>][/<chunk>].json -> the same under results/benchmarks/."""
    parts = Path(record_path).with_suffix(".tsv").parts
    i = len(parts) - 1 - parts[::-1].index("timing")
    return Path(*parts[:i], "benchmarks", *parts[i + 1 :])


def collect_jobs(
    record_paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[JobRow], list[Skipped]]:
    """Rows for every record that holds up, with its benchmark file where Snakemake wrote one;
    and every record (or benchmark file) that does not, with why."""
    rows, skipped = [], []
    for path in record_paths:
        try:
            record = read_record(path)
        except (PoolpipeError, ValueError) as exc:
            skipped.append(Skipped(path=str(path), why=str(exc)))
            continue
        bench_path = benchmark_path_for(path) if "timing" in Path(path).parts else None
        bench = None
        if bench_path and bench_path.exists():
            try:
                bench = read_benchmark(bench_path)
            except (PoolpipeError, ValueError) as exc:
                skipped.append(Skipped(path=str(bench_path), why=str(exc)))
        rows.append(job_row(record, bench, dataset_of(path, record)))
    rows.sort(key=lambda r: (r.stage, r.rule, r.dataset or "", -1 if r.chunk is None else r.chunk))
    return rows, skipped


def timings_csv(jobs: Sequence[JobRow]) -> str:
    """timings.csv: one row per job, its trace included."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for job in jobs:
        writer.writerow([cell(v) for v in asdict(job).values()])
    return buf.getvalue()


def jobs_table(jobs: Sequence[JobRow]) -> tuple[list[str], list[list[str]]]:
    """The page's table of every job: the few columns a reader compares (the rest in the CSV)."""
    rows = [
        [
            j.name,
            str(j.processes),
            seconds(j.wall_s),
            seconds(j.startup_s),
            times(j.speedup),
            cores(j.load),
            size(j.max_rss_mb * (1 << 20)) if j.max_rss_mb is not None else "",
            str(j.exit_status),
        ]
        for j in jobs
    ]
    return list(PAGE_HEAD), rows
