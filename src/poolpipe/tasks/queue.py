"""The task queue: worker processes that run a manifest's tasks, results in manifest order.

The parent reads the manifest and feeds the tasks through one multiprocessing.Queue
to worker processes, which put their outcomes on a results queue and stop at a
None sentinel each, as in the seed's scheduler. The parent yields one result per
manifest line, in manifest order, with at most in_flight tasks (default 2 per
process) queued at once; two tasks that touch the same file (and one of them writes
it) never run at once, so the results are those of running the manifest top to bottom.

A worker that dies (killed, out of memory) fails the whole run with WorkerDied
naming the manifest line it was running (each worker keeps the number of its task in
a shared slot): a dead worker may have left the shared queues unusable, and a run
that reports every task or fails loudly loses none. SIGTERM and SIGINT raise Stopped
the next time the generator of rows runs. Either way every worker is stopped and its
temporary files removed; close the generator (contextlib.closing, or run_to_file) if
it may be left unfinished.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Iterable, Iterator
from multiprocessing.sharedctypes import SynchronizedArray

from poolpipe.core.pool import (
    StopOnSignals,
    WorkerDied,
    exit_text,
    init_child,
    join_all,
    kill_all,
    signals_held,
)
from poolpipe.errors import PathError, PoolpipeError, Stopped
from poolpipe.tasks.manifest import Task, manifest_tasks, open_manifest
from poolpipe.tasks.ops import run_task
from poolpipe.tasks.results import Summary, TaskOutcome, TaskResult, write_results
from poolpipe.tasks.root import Root

POLL_S = 0.1
"""How often the parent looks for a dead worker while it waits for results."""

STOP_GRACE_S = 5.0
"""How long a stopped worker may take to remove its temporary file before SIGKILL."""


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def _worker(
    index: int,
    root_path: str,
    parent: int,
    tasks: mp.Queue[tuple[int, Task] | None],
    results: mp.Queue[tuple[int, TaskOutcome]],
    slots: SynchronizedArray[int],
) -> None:
    """Take tasks until the None sentinel; slots[index] holds the latest one's number + 1."""
    init_child(parent)
    signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        with Root(root_path) as root:
            while (item := tasks.get()) is not None:
                seq, task = item
                slots[index] = seq + 1
                results.put((seq, run_task(root, task)))
    except Stopped:
        results.cancel_join_thread()
        os._exit(128 + signal.SIGTERM)


def _overlap(a: str, b: str) -> bool:
    """Whether two real paths are the same file or one lies inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _conflicts(reads: list[str], writes: list[str], other: tuple[list[str], list[str]]) -> bool:
    """Whether a task must wait for another: either writes what the other one touches."""
    other_reads, other_writes = other
    return any(_overlap(w, o) for w in writes for o in (*other_reads, *other_writes)) or any(
        _overlap(r, w) for r in reads for w in other_writes
    )


def _files(root: Root, task: Task) -> tuple[list[str], list[str]]:
    """The real paths a task reads and writes, for ordering (PathError if one is refused)."""
    if task.op == "write":
        return [], [root.key(task.path)]
    if task.op == "copy":
        assert task.src is not None
        return [root.key(task.src)], [root.key(task.path)]
    return [root.key(task.path)], []


class _Queue:
    """The parent's side: the workers, both queues, the tasks in flight, the results not due."""

    def __init__(self, root: Root, processes: int, stop: StopOnSignals) -> None:
        ctx = mp.get_context("fork")
        self.root = root
        self.stop = stop
        self.tasks: mp.Queue[tuple[int, Task] | None] = ctx.Queue()
        self.results: mp.Queue[tuple[int, TaskOutcome]] = ctx.Queue()
        self.slots = ctx.Array("q", processes, lock=False)
        self.pending: dict[int, tuple[Task, list[str], list[str]]] = {}
        self.ready: dict[int, TaskResult] = {}
        self.emitted = 0
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(i, root.path, os.getpid(), self.tasks, self.results, self.slots),
                name=f"poolpipe-tasks-{i}",
                daemon=True,
            )
            for i in range(processes)
        ]
        with signals_held():
            for proc in self.procs:
                proc.start()

    def submit(self, seq: int, task: Task) -> None:
        """Queue a task once no task in flight touches its files; refuse it if a path is bad."""
        try:
            reads, writes = _files(self.root, task)
        except PathError as exc:
            self.ready[seq] = TaskResult.of(task, TaskOutcome.failed(str(exc)))
            return
        while any(_conflicts(reads, writes, (r, w)) for _, r, w in self.pending.values()):
            self.collect()
        self.pending[seq] = (task, reads, writes)
        self.tasks.put((seq, task))

    def collect(self) -> None:
        """Wait for the next result; WorkerDied if a worker died, Stopped on a signal."""
        seq, row = self.receive()
        self.ready[seq] = row

    def in_order(self) -> list[TaskResult]:
        """Take out the results that are next in manifest order."""
        out = []
        while self.emitted in self.ready:
            out.append(self.ready.pop(self.emitted))
            self.emitted += 1
        return out

    def receive(self) -> tuple[int, TaskResult]:
        """The next result to arrive; WorkerDied if a worker died meanwhile (or with it)."""
        while True:
            self.stop.check()
            try:
                seq, outcome = self.results.get(timeout=POLL_S)
            except queue.Empty:
                self._check_workers()
                continue
            self._check_workers()
            task, _, _ = self.pending.pop(seq)
            return seq, TaskResult.of(task, outcome)

    def _check_workers(self) -> None:
        """Raise Stopped if a signal came (it ends the workers too), or WorkerDied if one ended."""
        self.stop.check()
        for index, proc in enumerate(self.procs):
            if proc.exitcode is not None:
                raise self._died(index, proc)

    def _died(self, index: int, proc: mp.process.BaseProcess) -> WorkerDied:
        how = exit_text(proc.exitcode or 0)
        held = self.pending.get(self.slots[index] - 1)
        if held is None:
            return WorkerDied(
                f"task worker process {proc.pid} died with {how} while idle or taking its next task"
            )
        task = held[0]
        return WorkerDied(
            f"task worker process {proc.pid} died with {how} while running {task.describe()}"
        )

    def _remove_temporaries(self, tasks: Iterable[Task]) -> None:
        """Remove the temporary files that killed writes or copies left beside their targets."""
        for task in tasks:
            if task.op not in ("write", "copy"):
                continue
            with contextlib.suppress(OSError, PoolpipeError):
                target = self.root.target(task.path, create=False)
                try:
                    prefix = f".{target.name}."
                    for name in os.listdir(target.dir_fd):
                        if name.startswith(prefix) and name.endswith(".tmp"):
                            os.unlink(name, dir_fd=target.dir_fd)
                finally:
                    target.close()

    def finish(self) -> None:
        """Send each worker its sentinel and wait for all to exit."""
        for _ in self.procs:
            self.tasks.put(None)
        join_all(self.procs, timeout=30)
        kill_all(self.procs)
        join_all(self.procs)
        self._close()
        for proc in self.procs:
            if proc.exitcode != 0:
                raise WorkerDied(
                    f"task worker process {proc.pid} ended with {exit_text(proc.exitcode or 0)} "
                    "after the last task"
                )

    def abort(self) -> None:
        """SIGTERM every worker, SIGKILL those that outlast STOP_GRACE_S, remove what they left."""
        for proc in self.procs:
            with contextlib.suppress(Exception):
                if proc.exitcode is None:
                    proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.join(timeout=max(0.0, deadline - time.monotonic()))
        kill_all(self.procs)
        join_all(self.procs)
        self._remove_temporaries(task for task, _, _ in self.pending.values())
        self.tasks.cancel_join_thread()
        self._close()

    def _close(self) -> None:
        for q in (self.tasks, self.results):
            q.close()


def run_tasks(
    manifest: str | os.PathLike[str],
    root: str | os.PathLike[str],
    processes: int,
    *,
    in_flight: int | None = None,
) -> Iterator[TaskResult]:
    """Run a manifest's tasks in `processes` worker processes; one row per line, in order."""
    if processes < 1:
        raise PoolpipeError(f"processes must be at least 1, not {processes}")
    width = in_flight or 2 * processes
    with (
        open_manifest(manifest) as fh,
        Root(root) as opened,
        StopOnSignals(deferred=True, redeliver=True) as stop,
    ):
        run = _Queue(opened, processes, stop)
        try:
            for seq, item in enumerate(manifest_tasks(fh)):
                stop.check()
                while len(run.pending) + len(run.ready) >= width:
                    run.collect()
                    yield from run.in_order()
                if isinstance(item, TaskResult):
                    run.ready[seq] = item
                else:
                    run.submit(seq, item)
                yield from run.in_order()
            while run.pending:
                run.collect()
                yield from run.in_order()
            run.finish()
            stop.check()
        except BaseException:
            run.abort()
            raise


def run_to_file(
    manifest: str | os.PathLike[str],
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    processes: int,
) -> Summary:
    """Run a manifest and write its results.tsv; every worker has stopped when this ends."""
    with contextlib.closing(run_tasks(manifest, root, processes)) as rows:
        return write_results(out, rows)
