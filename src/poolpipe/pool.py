"""The one process pool every stage runs its work through.

pool_map(fn, tasks, processes) runs fn over tasks in a ProcessPoolExecutor and
yields the results in task order, with a bounded number of tasks in flight.
A worker that dies raises WorkerDied naming its task; SIGTERM or SIGINT stops
every worker and raises Stopped; workers die with their parent, so no orphan
is ever left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any, TypeVar

from poolpipe.errors import PoolpipeError, Stopped

T = TypeVar("T")
R = TypeVar("R")

_PR_SET_PDEATHSIG = 1
_slots: SynchronizedArray[int] | None = None


class WorkerDied(PoolpipeError):
    """A worker process ended abruptly (killed, crashed, out of memory) while running a task."""


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker if its parent dies, so no orphan is left."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _init_worker(
    slots: SynchronizedArray[int],
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
) -> None:
    global _slots
    _slots = slots
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    if os.getppid() == 1:
        os._exit(1)
    if initializer is not None:
        initializer(*initargs)


def _call(slot: int, fn: Callable[[T], R], task: T) -> R:
    assert _slots is not None
    _slots[slot] = os.getpid()
    return fn(task)


class _Signals:
    """Turn SIGTERM and SIGINT into Stopped in the main thread while a pool runs."""

    def __enter__(self) -> _Signals:
        self._saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._saved[sig] = signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def pool_map(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    processes: int,
    describe: Callable[[T], str] = repr,
    in_flight: int | None = None,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[R]:
    """Run fn(task) for every task in `processes` worker processes; yield results in task order.

    fn and the tasks must be picklable; tasks should be addresses (paths, byte ranges),
    not data. At most in_flight tasks (default 2 per process) are submitted at once, so
    an endless task stream runs in bounded memory. initializer(*initargs) runs once in each
    worker as it starts; the workers are forked, so initargs may hold shared memory or locks.
    """
    if processes < 1:
        raise PoolpipeError(f"processes must be at least 1, not {processes}")
    width = in_flight or 2 * processes
    slots = mp.get_context("fork").Array("q", width, lock=False)
    free = deque(range(width))
    pending: deque[tuple[int, T, Future[R]]] = deque()
    workers: dict[int, mp.process.BaseProcess] = {}
    task_iter = iter(tasks)
    executor = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=mp.get_context("fork"),
        initializer=_init_worker,
        initargs=(slots, initializer, initargs),
    )
    clean = False
    try:
        with _Signals():
            exhausted = False
            while True:
                while not exhausted and free:
                    try:
                        task = next(task_iter)
                    except StopIteration:
                        exhausted = True
                        break
                    slot = free.popleft()
                    slots[slot] = 0
                    pending.append((slot, task, executor.submit(_call, slot, fn, task)))
                    workers.update(getattr(executor, "_processes", None) or {})
                if not pending:
                    break
                slot, task, future = pending.popleft()
                try:
                    result = future.result()
                except BrokenProcessPool:
                    running = [(slot, task), *((s, t) for s, t, _ in pending)]
                    raise _died(running, slots, workers, describe) from None
                free.append(slot)
                yield result
        clean = True
    finally:
        if clean:
            executor.shutdown(wait=True)
        else:
            _stop(executor, workers)


def _stop(executor: ProcessPoolExecutor, workers: dict[int, mp.process.BaseProcess]) -> None:
    """Kill every worker and wait for each, so none outlives the pool."""
    workers.update(getattr(executor, "_processes", None) or {})
    for proc in workers.values():
        with contextlib.suppress(Exception):
            if proc.exitcode is None:
                proc.kill()
    executor.shutdown(wait=False, cancel_futures=True)
    for proc in workers.values():
        with contextlib.suppress(Exception):
            proc.join(timeout=10)


def _died(
    running: list[tuple[int, Any]],
    slots: SynchronizedArray[int],
    workers: dict[int, mp.process.BaseProcess],
    describe: Callable[[Any], str],
) -> WorkerDied:
    """Name the task whose worker ended on its own; the executor SIGTERMs the others itself."""
    for proc in workers.values():
        with contextlib.suppress(Exception):
            proc.join(timeout=5)
    dead = {pid: p.exitcode for pid, p in workers.items() if p.exitcode is not None}
    culprits = {pid for pid, code in dead.items() if code != -signal.SIGTERM} or set(dead)
    for slot, task in running:
        pid = slots[slot]
        if pid in culprits:
            return WorkerDied(
                f"worker process {pid} died with {_exit_text(dead[pid])} while running "
                f"{describe(task)}"
            )
    started = [describe(task) for slot, task in running if slots[slot]]
    return WorkerDied(
        "a worker process died abruptly while running "
        + (" or ".join(started) if started else "one of the tasks")
    )


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"exit code {code}"


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, which SLURM and taskset set)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def serial_map(fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
    """Run fn over tasks in this process: the single-process baseline for timing comparisons."""
    return map(fn, tasks)
