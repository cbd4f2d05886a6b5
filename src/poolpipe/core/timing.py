"""Time: timing records (one JSON file per job, the only source the report reads), each
filled from a stopwatch (core.cpu), and the waits between retries (exponential, capped,
shortened by a random share)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from poolpipe.core.cpu import Stopwatch
from poolpipe.core.inputs import read_small_file
from poolpipe.core.outputs import write_json
from poolpipe.errors import PoolpipeError

if TYPE_CHECKING:
    import random

SCHEMA_VERSION = 3
R = TypeVar("R")

RUN_ID_ENV = "POOLPIPE_RUN_ID"
"""The environment variable that carries a workflow run's id to every job of the run."""
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}")
"""A run id: its start (UTC) and six random hex digits, '20261206T083833Z-3fa2c1'."""
RECORD_LIMIT = 1 << 20
"""The largest timing record read (bytes): a record is a few hundred."""
MAX_SECONDS = 1e7
"""The longest time a record may hold (about 116 days): anything longer is not a measurement."""
MAX_COUNT = 1 << 62
"""The largest item or byte count a record may hold."""


def new_run_id(epoch_s: float | None = None) -> str:
    """A fresh run id: when the run started (UTC, to the second) and six random hex digits."""
    import datetime  # loaded on first use: `poolpipe sum` starts without it

    now = time.time() if epoch_s is None else epoch_s
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"


def start_run() -> str:
    """The run id of this workflow run: the one in the environment, else a new one put there.

    The Snakefile calls this once when it is read; every job the run starts (a local script, or
    a SLURM job that reads the Snakefile again) inherits the environment, so the whole run
    shares one id, and the next `snakemake` starts without it and makes a new one.
    """
    found = os.environ.get(RUN_ID_ENV, "")
    if not RUN_ID.fullmatch(found):
        found = new_run_id()
        os.environ[RUN_ID_ENV] = found
    return found


def check_run_id() -> None:
    """One sentence for a POOLPIPE_RUN_ID that is set but is no run id: a record would carry a
    fresh id instead, and the commands meant to be one run would silently be apart."""
    given = os.environ.get(RUN_ID_ENV, "")
    if given and not RUN_ID.fullmatch(given):
        raise PoolpipeError(
            f"{RUN_ID_ENV} {given!r} is not a run id, a UTC time and six hex digits such as "
            "20261206T083833Z-3fa2c1: set it to one, or unset it"
        )


def current_run_id() -> str:
    """The run id a job's record carries: its workflow run's, or one for this command alone."""
    return start_run()


def run_started(run_id: str) -> str | None:
    """When a run started, from its id ('2026-12-06 08:38 UTC'), or None for an unknown form."""
    import datetime

    if not RUN_ID.fullmatch(run_id):
        return None
    moment = datetime.datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ")
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def utc_iso(epoch_s: float) -> str:
    """A Unix time as UTC ISO 8601 with microseconds, e.g. '2026-01-02T03:04:05.678901Z'."""
    import datetime

    moment = datetime.datetime.fromtimestamp(epoch_s, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> float:
    """utc_iso's text back to a Unix time."""
    import datetime

    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


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
    run_id: str | None = None
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
    attempt: int | None = None,
    serial_note: str | None = None,
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
        run_id=current_run_id(),
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
    """Read one timing record (an older schema's missing trace fields read as their defaults).

    Every field is checked: a time is a finite number of seconds from 0 to MAX_SECONDS, a count
    a whole number from 0 to MAX_COUNT, a text a line of text; anything else is a ValueError
    that says which field is wrong.
    """
    data = read_small_file(path, label="timing record", limit=RECORD_LIMIT)
    try:
        found = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("it nests too deeply to be a timing record") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"it is not JSON ({exc})") from None
    return record_from(found)


_TEXTS = {"stage", "rule", "started_at", "ended_at", "host", "slurm_job_id", "run_id"}
_TEXTS |= {"serial_started_at", "serial_ended_at", "serial_note"}
_COUNTS = {"chunk", "processes", "items", "bytes", "host_cpus", "schema", "pid", "attempt"}
_SECONDS = {"wall_s", "cpu_s", "serial_wall_s"}
_LOADS = {"load", "serial_load"}
_CLOCKS = {"started_at", "ended_at", "serial_started_at", "serial_ended_at"}


def record_from(data: object) -> TimingRecord:
    """A timing record from its JSON object, every field checked, or a ValueError naming one."""
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    known = {f.name: f for f in fields(TimingRecord)}
    missing = [name for name, f in known.items() if _required(f) and name not in data]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    values = {k: v for k, v in data.items() if k in known}
    for name, value in values.items():
        if value is None and "None" in str(known[name].type):
            continue
        problem = _problem(name, value)
        if problem:
            raise ValueError(f"its {name} {_short(value)} {problem}")
    return TimingRecord(**values)


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _problem(name: str, value: object) -> str | None:
    """What is wrong with one field's value, or None."""
    if name in _TEXTS:
        if not isinstance(value, str) or len(value) > 4096:
            return "is not a text"
        if not value.isprintable():
            return "holds a control character"
        if name in _CLOCKS:
            try:
                parse_utc(value)
            except ValueError:
                return "is not a UTC time"
        return None
    if name == "exit_status":
        ok = isinstance(value, int) and not isinstance(value, bool) and -255 <= value <= 255
        return None if ok else "is not an exit status"
    if name in _COUNTS:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT
        return None if ok else f"is not a whole number from 0 to {MAX_COUNT}"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "is not a number"
    if not math.isfinite(value) or value < 0:
        return "is not a finite number of at least 0"
    if name in _SECONDS and value > MAX_SECONDS:
        return f"is more than {MAX_SECONDS:g} seconds"
    if name in _LOADS and value > 1e6:
        return "is more cores than any machine has"
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- waits between retries: exponential, capped, and shortened by a random share (jitter) ---


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """base_s * 2**(n - 1) seconds before retry n, at most max_s, less up to `jitter` of it."""

    base_s: float
    max_s: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name in ("base_s", "max_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"backoff {name} must be a finite number of at least 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("backoff jitter must be from 0 to 1")

    def ceiling(self, attempt: int) -> float:
        """The wait before retry `attempt` (1 for the first) with no jitter."""
        if attempt < 1:
            raise ValueError(f"a retry is numbered from 1, not {attempt}")
        return min(self.max_s, self.base_s * 2.0 ** min(attempt - 1, 1023))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retry `attempt`: the ceiling, less a random share of up to jitter."""
        import random  # loaded on first use, like datetime

        share = self.jitter * (rng or random).random() if self.jitter else 0.0
        return self.ceiling(attempt) * (1.0 - share)
