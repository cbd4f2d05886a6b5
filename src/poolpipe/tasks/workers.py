"""Task worker processes, each in a slot with its own Pipe: a task down, its outcome back.

A worker that runs over its time is killed and a fresh one takes its slot; as no queue or
lock is shared between workers, killing one cannot leave another stuck.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from poolpipe.core.pool import init_child, join_all, kill_all, signals_held
from poolpipe.errors import Stopped
from poolpipe.tasks import ops
from poolpipe.tasks.results import Task, TaskOutcome
from poolpipe.tasks.root import Root


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def _worker(
    root_path: str,
    alias: str,
    protected: frozenset[tuple[int, int]],
    parent: int,
    conn: Connection,
) -> None:
    """Run (seq, task, check, recorded) messages until None or the parent's end of the pipe
    closes. With recorded (a resumed run's row), a task whose files still hold what the row
    says is not run: its outcome sent back is None."""
    init_child(parent)
    signal.signal(signal.SIGTERM, _raise_stopped)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past `ulimit -f` is EFBIG, a row
    try:
        with Root(root_path, alias=alias, protected=protected) as root:
            while (item := conn.recv()) is not None:
                seq, task, check, recorded = item
                if recorded is not None and ops.holds(root, task, recorded):
                    conn.send((seq, None))
                else:
                    conn.send((seq, ops.run_task(root, task, check=check)))
    except Stopped:
        os._exit(128 + signal.SIGTERM)
    except (EOFError, OSError):
        os._exit(1)


@dataclass
class Slot:
    """A worker's place: its process, its end of the pipe, and the task it runs, if any."""

    index: int
    proc: Any
    conn: Connection
    seq: int | None = None
    since: float = 0.0
    started: float = 0.0


class Workers:
    """Up to `processes` worker slots, each started when a task first finds no idle worker (so a
    short manifest starts no more workers than it has tasks at once); a slot's worker can be
    replaced, the others run on."""

    def __init__(self, root: Root, processes: int) -> None:
        self._ctx = mp.get_context("fork")
        self._root = (root.path, root.alias, root.protected)
        self._most = processes
        self.procs: list[Any] = []
        self.slots: list[Slot] = []

    def _spawn(self, index: int) -> Slot:
        ours, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker,
            args=(*self._root, os.getpid(), theirs),
            name=f"poolpipe-tasks-{index}",
            daemon=True,
        )
        proc.start()
        theirs.close()
        self.procs.append(proc)
        return Slot(index, proc, ours)

    def idle(self) -> Slot | None:
        """A slot with no task, a new one if every slot is busy and there is room, or None."""
        slot = next((slot for slot in self.slots if slot.seq is None), None)
        if slot is None and len(self.slots) < self._most:
            with signals_held():
                slot = self._spawn(len(self.slots))
            self.slots.append(slot)
        return slot

    def send(
        self, slot: Slot, seq: int, task: Task, *, check: bool, recorded: TaskOutcome | None
    ) -> None:
        """Give an idle slot's worker a task (with recorded, to be checked first)."""
        slot.conn.send((seq, task, check, recorded))
        slot.seq, slot.since, slot.started = seq, time.monotonic(), time.time()

    def wait(
        self, timeout: float, also: int | None = None
    ) -> tuple[list[tuple[Slot, int, TaskOutcome | None]], list[Slot]]:
        """Outcomes that arrive within timeout (None: a recorded row still holds), and the
        slots whose worker has died; the wait also ends when the descriptor also is readable."""
        handles = [s.conn for s in self.slots] + [s.proc.sentinel for s in self.slots]
        handles += [] if also is None else [also]
        wait(handles, timeout=max(0.0, timeout))
        done, dead = [], []
        for slot in self.slots:
            try:
                while slot.conn.poll():
                    seq, outcome = slot.conn.recv()
                    done.append((slot, seq, outcome))
                    slot.seq = None
            except (EOFError, OSError):
                pass
            if slot.proc.exitcode is not None:
                dead.append(slot)
        return done, dead

    def replace(self, slot: Slot) -> None:
        """Kill a slot's worker (SIGKILL) and start a fresh one in its place."""
        slot.proc.kill()
        slot.proc.join()
        slot.conn.close()
        with signals_held():
            fresh = self._spawn(slot.index)
        slot.proc, slot.conn, slot.seq = fresh.proc, fresh.conn, None

    def finish(self) -> None:
        """Send each worker its None and wait for all to exit."""
        for slot in self.slots:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        join_all(self.procs, timeout=30)
        self.close()

    def terminate(self, grace_s: float) -> None:
        """SIGTERM every worker, SIGKILL those that outlast grace_s."""
        for proc in self.procs:
            with contextlib.suppress(Exception):
                if proc.exitcode is None:
                    proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.join(timeout=max(0.0, deadline - time.monotonic()))
        self.close()

    def close(self) -> None:
        """SIGKILL what still runs, reap every worker, close every pipe."""
        kill_all(self.procs)
        join_all(self.procs)
        for slot in self.slots:
            slot.conn.close()
