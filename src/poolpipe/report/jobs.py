"""Jobs' timings: timing records joined with Snakemake's benchmark files, one row per job."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from poolpipe.core.timing import TimingRecord, read_record
from poolpipe.errors import PoolpipeError
from poolpipe.report.cells import cell, shown
from poolpipe.report.spread import spread_of


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
    serial_note: str | None = None


CSV_FIELDS = tuple(f.name for f in fields(JobRow))
PAGE_FIELDS = CSV_FIELDS[: CSV_FIELDS.index("serial_started_at")]
"""The columns of the page's table of every job (the CSV also has the rerun's clock times)."""


def read_benchmark(path: str | os.PathLike[str]) -> list[dict[str, float | None]]:
    """Every row of a Snakemake benchmark TSV (one per repeat), numbers as floats, 'NA' as None."""
    with Path(path).open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = []
    for row in rows:
        values: dict[str, float | None] = {}
        for key, value in row.items():
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                values[key] = None
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


def job_row(
    record: TimingRecord,
    bench: Sequence[dict[str, float | None]] | None,
    dataset: str | None = None,
) -> JobRow:
    """Join a timing record with its job's benchmark measurements (every repeat)."""
    bench = list(bench or [])
    job_s = spread_of([b["s"] for b in bench if b.get("s") is not None])
    rss = [b["max_rss"] for b in bench if b.get("max_rss") is not None]
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
        serial_note=record.serial_note,
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
        bench_path = benchmark_path_for(path) if "timing" in Path(path).parts else None
        bench = read_benchmark(bench_path) if bench_path and bench_path.exists() else None
        try:
            record = read_record(path)
        except (TypeError, ValueError, KeyError) as exc:
            raise PoolpipeError(f"timing record {path} is not one poolpipe wrote: {exc}") from None
        rows.append(job_row(record, bench, dataset_of(path, record)))
    return sorted(
        rows,
        key=lambda r: (r.stage, r.rule, r.dataset or "", -1 if r.chunk is None else r.chunk),
    )


def timings_csv(jobs: Sequence[JobRow]) -> str:
    """timings.csv: one row per job, its trace included."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for job in jobs:
        writer.writerow([cell(v) for v in asdict(job).values()])
    return buf.getvalue()


def jobs_table(jobs: Sequence[JobRow]) -> tuple[list[str], list[list[str]]]:
    """The page's table of every job: the CSV's values, rounded to three figures."""
    return list(PAGE_FIELDS), [[shown(getattr(j, f)) for f in PAGE_FIELDS] for j in jobs]
