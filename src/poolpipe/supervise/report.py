"""What a supervised run did and does: ticks.tsv at the end, a status file while it runs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from poolpipe.core import tsv
from poolpipe.core.pool import exit_text
from poolpipe.errors import PoolpipeError, Stopped

FIELDS = ("process", "ticks", "restarts", "exit_code", "status")
STATUS_FIELDS = ("process", "state", "pid", "ticks", "restarts", "heartbeat_age_s")
"""The columns of the status file: each loop as it is now."""

ENDED_WELL = ("stopped", "finished")


@dataclass(kw_only=True)
class LoopRow:
    """One line of ticks.tsv: how a loop ended (or, while it runs, its state)."""

    process: str
    ticks: int = 0
    restarts: int = 0
    exit_code: int | None = None
    status: str = "running"
    kind: str = "worker loop"
    """What it is, for messages: a worker loop or a program (not a ticks.tsv column)."""

    def cells(self) -> tuple[object, ...]:
        """The values of its ticks.tsv row, in FIELDS order."""
        return (self.process, self.ticks, self.restarts, self.exit_code, self.status)


@dataclass
class SupervisedRun:
    """What a supervised run did: one row per loop, and the signal that ended it, if any."""

    rows: list[LoopRow]
    signal: int | None = None
    wall_s: float = 0.0
    escaped: list[str] = field(default_factory=list)
    """The processes that left their program's group, stopped at the end: 'NAME (pid N)'."""

    @property
    def failed(self) -> list[LoopRow]:
        """Loops that ended badly (died for good, hung, stalled, or killed at the stop)."""
        return [row for row in self.rows if row.status not in ENDED_WELL]


@dataclass(frozen=True, kw_only=True)
class LoopStatus:
    """One line of the status file."""

    process: str
    state: str
    pid: int | None
    ticks: int
    restarts: int
    heartbeat_age_s: float | None

    def cells(self) -> tuple[object, ...]:
        """The values of its status row, in STATUS_FIELDS order."""
        age = None if self.heartbeat_age_s is None else f"{self.heartbeat_age_s:.1f}"
        return (self.process, self.state, self.pid, self.ticks, self.restarts, age)


def write_status(path: str | os.PathLike[str], rows: Iterable[LoopStatus]) -> None:
    """Replace the status file atomically, so a reader always sees one whole snapshot."""
    tsv.write(path, STATUS_FIELDS, (row.cells() for row in rows))


def ticks_tsv(run: SupervisedRun) -> str:
    """The ticks.tsv document: one row per loop, in the loops' order."""
    return tsv.text(FIELDS, (row.cells() for row in run.rows))


def write_ticks(path: str | os.PathLike[str], run: SupervisedRun) -> None:
    """Write ticks.tsv atomically."""
    tsv.write(path, FIELDS, (row.cells() for row in run.rows))


def check(run: SupervisedRun) -> None:
    """Raise Stopped if a signal ended the run, or PoolpipeError naming a loop that failed."""
    if run.signal is not None:
        raise Stopped(run.signal)
    if run.failed:
        row = run.failed[0]
        code = "" if row.exit_code is None else f" ({exit_text(row.exit_code)})"
        raise PoolpipeError(f"{row.kind} {row.process!r} {row.status}{code}")
