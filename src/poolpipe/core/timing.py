"""Timing records: one JSON file per job, the only source the report reads."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from poolpipe.core.outputs import read_json, write_json

SCHEMA_VERSION = 1
R = TypeVar("R")


@dataclass
class Stopwatch:
    """Wall and CPU seconds (this process and its reaped children) since start()."""

    _wall: float = field(default=0.0, init=False)
    _cpu: float = field(default=0.0, init=False)
    wall_s: float = field(default=0.0, init=False)
    cpu_s: float = field(default=0.0, init=False)

    @staticmethod
    def _cpu_now() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def __enter__(self) -> Stopwatch:
        self._wall = time.perf_counter()
        self._cpu = self._cpu_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = self._cpu_now() - self._cpu


@dataclass(frozen=True, kw_only=True)
class TimingRecord:
    """How long one job took and how much it did."""

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
) -> None:
    """Write the timing record of a measured run: the one place a record is built."""
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
    )
    write_record(path, record)


def timed_with_serial(
    run: Callable[[bool, Any], R],
    *,
    compare_serial: bool,
    setup: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
) -> tuple[R, Stopwatch, float | None]:
    """Time run(False, ctx), the pool's run; where asked, time run(True, ctx) in one process too.

    Each run gets a fresh setup() context (e.g. a demo server), entered before its clock starts.
    Returns the pool's result, its stopwatch, and the single-process wall time or None.
    """
    with setup() as ctx, Stopwatch() as watch:
        result = run(False, ctx)
    if not compare_serial:
        return result, watch, None
    with setup() as ctx, Stopwatch() as serial:
        run(True, ctx)
    return result, watch, serial.wall_s


def write_record(path: str | os.PathLike[str], record: TimingRecord) -> None:
    """Write one timing record."""
    write_json(path, asdict(record))


def read_record(path: str | os.PathLike[str]) -> TimingRecord:
    """Read one timing record."""
    return TimingRecord(**read_json(Path(path)))
