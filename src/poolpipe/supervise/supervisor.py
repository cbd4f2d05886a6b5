"""A supervisor of named worker loops (the seed's render, logic and network loops).

Each loop runs in its own process and talks to the supervisor over its own
multiprocessing.Pipe: it sends a heartbeat with its tick count at every tick (and
while idle), and stops when it receives the stop message. The supervisor runs the
loops for a set time, until every loop has done its ticks, or until SIGINT/SIGTERM;
then it stops them one by one in their configured order, joining each, so no
child and no zombie is left (a second signal meanwhile kills the rest at once). Waiting
for the stop message is a loop's sleep, so a stop is seen within one wait. A loop that
dies, or stops sending heartbeats, is reported and, if asked, restarted (up to a limit)
from the tick it had reached.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from poolpipe.core import tsv
from poolpipe.core.pool import (
    StopOnSignals,
    exit_text,
    init_child,
    join_all,
    kill_all,
    signals_held,
)
from poolpipe.errors import PoolpipeError, Stopped
from poolpipe.supervise.loops import Loop, SupervisorSettings

FIELDS = ("process", "ticks", "restarts", "exit_code", "status")
STOP = "stop"
BEAT = "beat"
DONE = "done"
WAKE_S = 0.1
"""The supervisor's longest sleep: how soon it notices a signal, a deadline or a hung loop."""
_log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class LoopRow:
    """One line of ticks.tsv: how a loop ended."""

    process: str
    ticks: int = 0
    restarts: int = 0
    exit_code: int | None = None
    status: str = "running"

    def cells(self) -> tuple[object, ...]:
        """The values of its ticks.tsv row, in FIELDS order."""
        return (self.process, self.ticks, self.restarts, self.exit_code, self.status)


@dataclass
class SupervisedRun:
    """What a supervised run did: one row per loop, and the signal that ended it, if any."""

    rows: list[LoopRow]
    signal: int | None = None
    wall_s: float = 0.0

    @property
    def failed(self) -> list[LoopRow]:
        """Loops that ended badly (died for good, hung, or had to be killed at the stop)."""
        return [row for row in self.rows if row.status not in ("stopped", "finished")]


# --- the child ------------------------------------------------------------------------------


def run_loop(loop: Loop, conn: Connection, *, start: int, first: bool, beat_s: float) -> int:
    """A worker loop: tick every interval, heartbeat, stop on the stop message; its tick count."""
    ticks = start
    next_tick = time.monotonic() + loop.interval_s
    while True:
        due = loop.ticks is None or ticks < loop.ticks
        wait_s = min(next_tick - time.monotonic(), beat_s) if due else beat_s
        if conn.poll(max(0.0, wait_s)):
            if conn.recv() == STOP:
                conn.send((DONE, ticks))
                return ticks
            continue
        now = time.monotonic()
        if due and now >= next_tick:
            if first and loop.fail_at_tick == ticks + 1:
                os._exit(1)
            ticks += 1
            next_tick = max(next_tick + loop.interval_s, now)
        conn.send((BEAT, ticks))


def _child(
    loop: Loop, conn: Connection, start: int, first: bool, beat_s: float, parent: int
) -> None:
    init_child(parent)
    try:
        run_loop(loop, conn, start=start, first=first, beat_s=beat_s)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        os._exit(1)
    finally:
        conn.close()


# --- the supervisor -------------------------------------------------------------------------


@dataclass
class _Worker:
    """A loop's current process, its end of the pipe, and its row."""

    loop: Loop
    row: LoopRow
    proc: Any = None
    conn: Connection | None = None
    seen: float = 0.0
    runs: int = 0
    done: bool = False

    @property
    def finished(self) -> bool:
        """Whether the loop has done all its ticks."""
        return self.loop.ticks is not None and self.row.ticks >= self.loop.ticks

    def drain(self) -> bool:
        """Read every waiting message; False once the pipe is closed."""
        assert self.conn is not None
        try:
            while self.conn.poll():
                kind, ticks = self.conn.recv()
                self.row.ticks = max(self.row.ticks, ticks)
                self.seen = time.monotonic()
                self.done = self.done or kind == DONE
        except (EOFError, OSError):
            return False
        return True


class Supervisor:
    """Start, watch, restart and stop a set of worker loops."""

    def __init__(self, loops: Sequence[Loop], settings: SupervisorSettings) -> None:
        names = [loop.name for loop in loops]
        if not loops:
            raise PoolpipeError("the supervisor needs at least one worker loop")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PoolpipeError(f"worker loop name {dupes[0]!r} is used twice")
        self.settings = settings
        self.workers = [_Worker(loop, LoopRow(process=loop.name)) for loop in loops]
        self._ctx = mp.get_context("fork")
        self._beat_s = settings.heartbeat_timeout_s / 5

    def run(self) -> SupervisedRun:
        """Run until the duration passes, every loop is done, or a signal; then stop all."""
        began = time.monotonic()
        deadline = None if self.settings.duration_s is None else began + self.settings.duration_s
        stopped: int | None = None
        with StopOnSignals(deferred=True) as signals:
            try:
                for worker in self.workers:
                    signals.check()
                    self._start(worker)
                self._watch(deadline, signals)
            except Stopped as exc:
                stopped = exc.signum
                _log.info("stopped by %s", signal.Signals(exc.signum).name)
            finally:
                self.stop()
        rows = [w.row for w in self.workers]
        return SupervisedRun(rows=rows, signal=stopped, wall_s=time.monotonic() - began)

    def _start(self, worker: _Worker) -> None:
        ours, theirs = self._ctx.Pipe()
        first = worker.runs == 0
        args = (worker.loop, theirs, worker.row.ticks, first, self._beat_s, os.getpid())
        proc = self._ctx.Process(target=_child, args=args, name=f"poolpipe-{worker.loop.name}")
        with signals_held():
            proc.start()
        theirs.close()
        worker.proc, worker.conn, worker.seen = proc, ours, time.monotonic()
        worker.runs += 1
        worker.row.status = "running"
        _log.info("started %s (pid %d) at tick %d", worker.loop.name, proc.pid, worker.row.ticks)

    def _live(self) -> list[_Worker]:
        return [w for w in self.workers if w.proc is not None and w.row.status == "running"]

    def _watch(self, deadline: float | None, signals: StopOnSignals) -> None:
        while True:
            signals.check()
            live = self._live()
            if not live or all(w.finished for w in live):
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            timeout = WAKE_S if deadline is None else min(WAKE_S, deadline - now)
            handles = [w.conn for w in live] + [w.proc.sentinel for w in live]
            wait(handles, timeout=max(0.0, timeout))
            signals.check()
            for worker in live:
                open_ = worker.drain()
                if worker.proc.exitcode is not None or not open_:
                    worker.proc.join(timeout=1.0)
                    if worker.proc.exitcode is None:
                        worker.proc.kill()
                        worker.proc.join()
                    self._lost(worker, f"died with {exit_text(worker.proc.exitcode)}")
                elif time.monotonic() - worker.seen > self.settings.heartbeat_timeout_s:
                    worker.proc.kill()
                    worker.proc.join()
                    self._lost(worker, "sent no heartbeat and was killed")

    def _lost(self, worker: _Worker, what: str) -> None:
        """Report a loop that ended on its own; restart it if allowed."""
        assert worker.conn is not None
        worker.drain()
        worker.conn.close()
        row = worker.row
        row.exit_code = worker.proc.exitcode
        _log.warning(
            "process %s (pid %d) %s after %d ticks", row.process, worker.proc.pid, what, row.ticks
        )
        if self.settings.restart and row.restarts < self.settings.max_restarts:
            row.restarts += 1
            _log.info(
                "restarting %s (%d of %d)", row.process, row.restarts, self.settings.max_restarts
            )
            self._start(worker)
        else:
            row.status = "died" if "died" in what else "hung"
            if self.settings.restart:
                _log.warning("%s is not restarted again: restart limit reached", row.process)

    def stop(self) -> None:
        """Stop the running loops in order (stop message, then SIGTERM, then SIGKILL); join each."""
        with StopOnSignals(deferred=True) as hurry:
            for worker in self.workers:
                if worker.proc is None:
                    continue
                if worker.row.status == "running":
                    self._stop_one(worker, hurry)
                worker.proc.join()
        kill_all(w.proc for w in self.workers if w.proc is not None)
        join_all(w.proc for w in self.workers if w.proc is not None)

    def _stop_one(self, worker: _Worker, hurry: StopOnSignals) -> None:
        assert worker.conn is not None
        proc, row = worker.proc, worker.row
        with contextlib.suppress(OSError):
            worker.conn.send(STOP)
        deadline = time.monotonic() + self.settings.stop_timeout_s
        while proc.exitcode is None and time.monotonic() < deadline and hurry.signum is None:
            left = deadline - time.monotonic()
            wait([worker.conn, proc.sentinel], timeout=max(0.0, min(WAKE_S, left)))
            if not worker.drain():
                proc.join(timeout=1.0)
                break
        escalated = proc.exitcode is None
        for kill in (proc.terminate, proc.kill):
            if proc.exitcode is None:
                kill()
                proc.join(timeout=1.0 if hurry.signum is None else 0.2)
        proc.join()
        worker.drain()
        worker.conn.close()
        row.exit_code = proc.exitcode
        if escalated:
            row.status = "killed"
        elif worker.done and proc.exitcode == 0:
            row.status = "finished" if worker.finished else "stopped"
        else:
            row.status = "died"
        _log.info(
            "%s (pid %d) %s with %s after %d ticks",
            row.process,
            proc.pid,
            row.status,
            exit_text(proc.exitcode),
            row.ticks,
        )


def supervise(loops: Sequence[Loop], settings: SupervisorSettings) -> SupervisedRun:
    """Run the loops under a supervisor until it stops (see the module's docstring)."""
    return Supervisor(loops, settings).run()


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
        raise PoolpipeError(f"worker loop {row.process!r} {row.status}{code}")
