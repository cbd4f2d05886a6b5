"""Timing records: one JSON file per job, the only source the report reads."""

from __future__ import annotations

import contextlib
import datetime
import os
import resource
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from poolpipe.core.outputs import read_json, write_json

SCHEMA_VERSION = 2
R = TypeVar("R")
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def utc_iso(epoch_s: float) -> str:
    """A Unix time as UTC ISO 8601 with microseconds, e.g. '2026-01-02T03:04:05.678901Z'."""
    moment = datetime.datetime.fromtimestamp(epoch_s, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> float:
    """utc_iso's text back to a Unix time."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def machine_busy_s(stat: str | os.PathLike[str] = "/proc/stat") -> float | None:
    """CPU seconds every process of the machine has used since boot (/proc/stat), or None."""
    try:
        with open(stat, encoding="ascii") as fh:
            head = fh.readline().split()
    except OSError:
        return None
    if not head or head[0] != "cpu":
        return None
    ticks = [int(v) for v in head[1:]]
    idle = sum(ticks[3:5])  # idle and iowait
    guest = sum(ticks[8:10])  # already counted in user and nice
    return (sum(ticks) - idle - guest) * _TICK_S


def others_load(busy_s: float | None, own_cpu_s: float, wall_s: float) -> float | None:
    """Cores other processes kept busy on average: the machine's CPU time less ours, per second."""
    if busy_s is None or wall_s <= 0:
        return None
    return max(0.0, busy_s - own_cpu_s) / wall_s


@dataclass
class Stopwatch:
    """Wall and CPU seconds (this process and its reaped children) since start(), when it ran
    (UTC), and how many cores other processes of the machine kept busy meanwhile."""

    _wall: float = field(default=0.0, init=False)
    _cpu: float = field(default=0.0, init=False)
    _busy: float | None = field(default=None, init=False)
    wall_s: float = field(default=0.0, init=False)
    cpu_s: float = field(default=0.0, init=False)
    started: float | None = field(default=None, init=False)
    ended: float | None = field(default=None, init=False)
    load: float | None = field(default=None, init=False)
    serial: Stopwatch | None = field(default=None, init=False)
    """The same work timed again in one process (timed_with_serial), when it was."""

    @staticmethod
    def _cpu_now() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def __enter__(self) -> Stopwatch:
        self.started = time.time()
        self._busy = machine_busy_s()
        self._wall = time.perf_counter()
        self._cpu = self._cpu_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = self._cpu_now() - self._cpu
        busy = machine_busy_s()
        self.ended = time.time()
        spent = None if busy is None or self._busy is None else busy - self._busy
        self.load = others_load(spent, self.cpu_s, self.wall_s)


@dataclass(frozen=True, kw_only=True)
class TimingRecord:
    """How long one job took, how much it did, and where and when it ran (its trace)."""

    stage: str
    rule: str
    chunk: int | None
    processes: int
    wall_s: float
    cpu_s: float
    items: int
    bytes: int
    serial_wall_s: float | None = None
    host_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    schema: int = SCHEMA_VERSION
    started_at: str | None = None
    ended_at: str | None = None
    host: str | None = None
    pid: int | None = None
    attempt: int | None = None
    slurm_job_id: str | None = None
    exit_status: int = 0
    load: float | None = None
    serial_started_at: str | None = None
    serial_ended_at: str | None = None
    serial_load: float | None = None
    serial_note: str | None = None
    """Why no one-process comparison was measured, where it was not (a chunk job's record)."""


def write_timing(
    path: str | os.PathLike[str],
    *,
    stage: str,
    rule: str,
    watch: Stopwatch,
    items: int,
    size: int,
    processes: int = 1,
    chunk: int | None = None,
    serial_wall_s: float | None = None,
    serial_note: str | None = None,
    attempt: int | None = None,
) -> None:
    """Write the timing record of a measured run: the one place a record is built."""
    serial = watch.serial
    record = TimingRecord(
        stage=stage,
        rule=rule,
        chunk=chunk,
        processes=processes,
        wall_s=watch.wall_s,
        cpu_s=watch.cpu_s,
        items=items,
        bytes=size,
        serial_wall_s=serial_wall_s,
        started_at=_iso_or_none(watch.started),
        ended_at=_iso_or_none(watch.ended),
        host=os.uname().nodename,
        pid=os.getpid(),
        attempt=attempt,
        slurm_job_id=os.environ.get("SLURM_JOB_ID") or None,
        load=watch.load,
        serial_started_at=_iso_or_none(serial.started) if serial else None,
        serial_ended_at=_iso_or_none(serial.ended) if serial else None,
        serial_load=serial.load if serial else None,
        serial_note=None if serial_wall_s is not None else serial_note,
    )
    write_record(path, record)


def _iso_or_none(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else utc_iso(epoch_s)


def timed_with_serial(
    run: Callable[[bool, Any], R],
    *,
    compare_serial: bool,
    setup: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
) -> tuple[R, Stopwatch, float | None]:
    """Time run(False, ctx), the pool's run; where asked, time run(True, ctx) in one process too.

    Each run gets a fresh setup() context (e.g. a demo server), entered before its clock starts.
    Returns the pool's result, its stopwatch (its `serial` the one-process run's), and the
    single-process wall time or None.
    """
    with setup() as ctx, Stopwatch() as watch:
        result = run(False, ctx)
    if not compare_serial:
        return result, watch, None
    with setup() as ctx, Stopwatch() as serial:
        run(True, ctx)
    watch.serial = serial
    return result, watch, serial.wall_s


def write_record(path: str | os.PathLike[str], record: TimingRecord) -> None:
    """Write one timing record."""
    write_json(path, asdict(record))


def read_record(path: str | os.PathLike[str]) -> TimingRecord:
    """Read one timing record (an older schema's missing trace fields read as their defaults)."""
    known = {f.name for f in fields(TimingRecord)}
    return TimingRecord(**{k: v for k, v in read_json(Path(path)).items() if k in known})
