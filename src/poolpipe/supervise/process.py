"""A supervised loop: its own process, which ticks, sends heartbeats and stops on the stop
message; and as the supervisor sees it: its process, its pipe, its row, its restarts."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from poolpipe.core.pool import StopOnSignals, exit_text, init_child
from poolpipe.supervise.loops import Loop
from poolpipe.supervise.report import LoopRow, LoopStatus

# --- the loop's own process --------------------------------------------------------------

STOP = "stop"
BEAT = "beat"
DONE = "done"


def run_loop(loop: Loop, conn: Connection, *, start: int, first: bool, beat_s: float) -> int:
    """A worker loop: tick every interval, heartbeat, stop on the stop message; its tick count.

    On its first run a loop with fail_at_tick exits with code 1 at that tick, and one with
    stall_at_tick stops ticking there but goes on sending heartbeats (alive, no progress)."""
    ticks = start
    next_tick = time.monotonic() + loop.interval_s
    stall = loop.stall_at_tick if first else None
    while True:
        due = (loop.ticks is None or ticks < loop.ticks) and (stall is None or ticks < stall)
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


def child_main(
    loop: Loop, conn: Connection, start: int, first: bool, beat_s: float, parent: int
) -> None:
    """The target of a loop's process: SIGINT and SIGTERM are the supervisor's, which stops it
    with the stop message (a SIGTERM to the whole process group, as a batch system's time limit
    sends, must not end it first); it still dies with the supervisor."""
    # ignored before init_child too, which drops one held back since the fork: init_child
    # lets SIGTERM through with its default action, and only its few lines are left unguarded
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    init_child(parent)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        run_loop(loop, conn, start=start, first=first, beat_s=beat_s)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        os._exit(1)
    finally:
        conn.close()


# --- the loop as the supervisor sees it ----------------------------------------------------

WAKE_S = 0.1
"""The longest wait between two looks at a loop or a program's group that is stopping."""
_log = logging.getLogger("poolpipe.supervise.supervisor")


@dataclass(kw_only=True)
class Supervised:
    """What the supervisor keeps for each loop or program: its row, its current process, when
    it was last heard from and last progressed, and its restart bookkeeping."""

    row: LoopRow
    proc: Any = None
    seen: float = 0.0
    progressed: float = 0.0
    started: float = 0.0
    runs: int = 0
    streak: int = 0
    restart_at: float = 0.0


@dataclass(kw_only=True)
class LoopProcess(Supervised):
    """A loop's current process, its end of the pipe, its row, and its restart bookkeeping."""

    loop: Loop
    conn: Connection | None = None
    done: bool = False

    @property
    def name(self) -> str:
        """The loop's name."""
        return self.loop.name

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
                self.seen = time.monotonic()
                if ticks > self.row.ticks:
                    self.row.ticks, self.progressed = ticks, self.seen
                self.done = self.done or kind == DONE
        except (EOFError, OSError):
            return False
        return True

    def status(self, now: float) -> LoopStatus:
        """Its line of the status file at monotonic time now."""
        running = self.row.status == "running" and self.proc is not None  # None: never started
        return LoopStatus(
            process=self.loop.name,
            state="finished" if running and self.finished else self.row.status,
            pid=self.proc.pid if running else None,
            ticks=self.row.ticks,
            restarts=self.row.restarts,
            heartbeat_age_s=now - self.seen if running else None,
        )

    def stop(self, timeout_s: float, hurry: StopOnSignals) -> None:
        """Send the stop message, wait up to timeout_s (less after a second signal), then
        SIGKILL (a loop ignores SIGTERM); join the process and record how it ended."""
        assert self.conn is not None
        proc, row = self.proc, self.row
        with contextlib.suppress(OSError):
            self.conn.send(STOP)
        deadline = time.monotonic() + timeout_s
        while proc.exitcode is None and time.monotonic() < deadline and hurry.signum is None:
            left = deadline - time.monotonic()
            wait([self.conn, proc.sentinel], timeout=max(0.0, min(WAKE_S, left)))
            if not self.drain():
                proc.join(timeout=1.0)
                break
        escalated = proc.exitcode is None
        if escalated:
            proc.kill()
        proc.join()
        self.drain()
        self.conn.close()
        row.exit_code = proc.exitcode
        if escalated:
            row.status = "killed"
        elif self.done and proc.exitcode == 0:
            row.status = "finished" if self.finished else "stopped"
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
