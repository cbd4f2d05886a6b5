"""The one process pool every stage runs its work through.

pool_map(fn, tasks, processes) runs fn over tasks in a ProcessPoolExecutor and
yields the results in task order, with a bounded number of tasks in flight.
A worker that dies raises WorkerDied naming its task; SIGTERM or SIGINT stops
every worker and raises Stopped (taken between the executor's calls, never in
the middle of one, so none of its locks is left held); workers die with their
parent, so no orphan is ever left behind.

The pieces other process managers reuse (the task queue, the supervisor) are
public: signals_held, init_child, die_with_parent, StopOnSignals, kill_all, join_all,
exit_text.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from poolpipe.errors import PoolpipeError, Stopped, WorkerDied

TYPE_CHECKING = False
if TYPE_CHECKING:
    from multiprocessing.sharedctypes import SynchronizedArray
    from typing import Any, TypeVar

    T = TypeVar("T")
    R = TypeVar("R")

_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
"""What stops a command: SIGTERM, Ctrl-C, and the hang-up of its terminal or ssh session."""
POLL_S = 0.1
"""How often pool_map, waiting for a result, looks for a signal that arrived meanwhile."""
STALL_S = 1.0
"""How long a dead worker may go unseen by the executor before pool_map breaks the pool."""
_slots: SynchronizedArray[int] | None = None


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process if its parent dies, so no orphan is left."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold the stop signals (SIGTERM, SIGINT, SIGHUP) back from this thread while the block runs.

    Start children inside it: a forked child inherits its parent's signal handlers, and a
    SIGTERM that reached it before it set its own would run the parent's handler there and be
    lost. A child started here has both signals blocked until init_child lets them through.
    """
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def init_child(parent: int | None = None) -> None:
    """Set up a child process: Ctrl-C and a hang-up are its parent's to handle, and it dies
    with its parent.

    parent is the pid the child was started from; a child whose parent already changed
    exits at once (the parent died before the death signal was armed). A SIGTERM held back
    since the child's start (signals_held) arrives at the end, and ends it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()
    ppid = os.getppid()
    if ppid == 1 or (parent is not None and ppid != parent):
        os._exit(1)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


_blas_held = False
"""Whether this process's BLAS is held to one thread now (a pool worker's, for good)."""


def _one_blas_thread() -> None:
    """Hold a worker's BLAS to one thread where numpy is loaded: the pool's processes are the
    parallelism, and BLAS threads a worker starts would spin beside the other workers."""
    global _blas_held
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
        _blas_held = True


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS held to one thread while the block runs, as in a pool worker. A worker holds it
    already, and a block inside another keeps it: threadpoolctl's limit costs about 1 ms a
    call, which a piece of a few ms would pay each time."""
    global _blas_held
    if _blas_held:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        _blas_held = True
        try:
            yield
        finally:
            _blas_held = False


def _init_worker(
    slots: SynchronizedArray[int],
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
    blas: bool = True,
) -> None:
    global _slots
    _slots = slots
    init_child()
    # what the worker inherits (every module the parent loaded) is never garbage: frozen, the
    # collector leaves it alone, where a full collection walked it all (10 ms in a crawl
    # worker's first turn) and copied each page it touched out of the parent's
    gc.freeze()
    if blas:
        _one_blas_thread()
    if initializer is not None:
        initializer(*initargs)


def _call(slot: int, fn: Callable[[T], R], task: T) -> R:
    """Run one task, marking its slot with this worker's pid while it runs."""
    assert _slots is not None
    _slots[slot] = os.getpid()
    try:
        return fn(task)
    finally:
        _slots[slot] = 0


class StopOnSignals:
    """Turn SIGTERM, SIGINT and SIGHUP into Stopped in the main thread while the block runs (a
    SIGHUP ignored at the start, as under nohup, stays ignored).

    By default the signal handler raises Stopped at once, wherever the main thread is.
    With deferred=True it only records the signal, and the caller raises it with check()
    at points where it holds no lock: an exception raised from a handler in the middle of
    a library call (a queue's put, a process start) can leave that library's lock held.
    With redeliver=True, a recorded signal that check() never raised is sent again when the
    block ends, to whatever handled it before, so it is never lost.
    """

    def __init__(self, deferred: bool = False, redeliver: bool = False) -> None:
        self.deferred = deferred
        self.redeliver = redeliver
        self.signum: int | None = None
        self._raised = False

    def __enter__(self) -> StopOnSignals:
        self._saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in sorted(_STOP_SIGNALS):
                if sig != signal.SIGHUP or signal.getsignal(sig) is not signal.SIG_IGN:
                    self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if not self.deferred:
            raise Stopped(signum)
        if self.signum is None:
            self.signum = signum

    def check(self) -> None:
        """Raise Stopped if a signal arrived (deferred mode)."""
        if self.signum is not None:
            self._raised = True
            raise Stopped(self.signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        if self.redeliver and self._saved and self.signum is not None and not self._raised:
            signal.raise_signal(self.signum)


class _ForkRecorder(type(mp.get_context("fork"))):  # type: ignore[misc]
    """The fork start method, remembering every process it makes.

    The executor keeps its workers to itself, but pool_map needs them: to name the task of a
    worker that died (by its exit code) and to kill and reap every worker when it stops. The
    executor makes its workers through the context it is given, so the context is where
    they are seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self.started: list[mp.process.BaseProcess] = []
        self.queues: list[Any] = []

    def Process(self, *args: Any, **kwargs: Any) -> mp.process.BaseProcess:
        """A fork process, remembered (the name is the one the executor calls)."""
        proc = mp.context.ForkProcess(*args, **kwargs)
        self.started.append(proc)
        return proc

    def SimpleQueue(self) -> Any:
        """A queue, remembered (the name is the one the executor calls; its results come back
        through the one it makes)."""
        made = super().SimpleQueue()
        self.queues.append(made)
        return made

    def end_results(self) -> None:
        """Close this process's write end of every queue made, once every worker is dead.

        A worker killed halfway through sending a result (one larger than a pipe holds) leaves
        the executor's manager thread reading the rest for ever: this process holds a write
        end too, so the pipe never reaches its end. Closed, the read ends (EOFError) and the
        thread tears the executor down as it does for any broken pool.
        """
        for made in self.queues:
            with contextlib.suppress(OSError):
                made._writer.close()

    def workers(self) -> dict[int, mp.process.BaseProcess]:
        """The processes started so far, by pid."""
        return {proc.pid: proc for proc in self.started if proc.pid is not None}


def pool_map(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    processes: int,
    *,
    describe: Callable[[T], str] = repr,
    in_flight: int | None = None,
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
    blas: bool = True,
) -> Iterator[R]:
    """Run fn(task) for every task in `processes` worker processes; yield results in task order.

    fn and the tasks must be picklable; tasks should be addresses (paths, byte ranges),
    not data. At most in_flight tasks (default 2 per process) are submitted at once, so
    an endless task stream runs in bounded memory. initializer(*initargs) runs once in each
    worker as it starts; the workers are forked, so initargs may hold shared memory or locks.
    Each worker holds its BLAS to one thread where numpy is loaded; a stage that does no linear
    algebra passes blas=False and saves the 8-10 ms that takes at each worker's start.
    """
    if processes < 1:
        raise PoolpipeError(f"processes must be at least 1, not {processes}")
    width = in_flight or 2 * processes
    run = _PoolRun(fn, processes, width, describe, (initializer, initargs, blas))
    clean = False
    try:
        # Signals are only recorded while the run goes on, and raised as Stopped between the
        # executor's calls (stop.check()), never inside one; see StopOnSignals.
        with StopOnSignals(deferred=True, redeliver=True) as stop:
            yield from run.results(iter(tasks), stop)
            stop.check()
        clean = True
    finally:
        # Also reached when the caller abandons the results (GeneratorExit) or fn raised.
        run.close(clean)


class _PoolRun:
    """One pool_map call: its executor, the tasks in flight in submission order, and a shared
    slot per task in flight where the worker running it writes its pid."""

    def __init__(
        self,
        fn: Callable[[T], R],
        processes: int,
        width: int,
        describe: Callable[[T], str],
        start: tuple[Callable[..., object] | None, tuple[Any, ...], bool],
    ) -> None:
        self.fn = fn
        self.describe = describe
        self.context = _ForkRecorder()
        try:
            self.slots = self.context.Array("q", width, lock=False)
        except OSError as exc:  # its pages are a file (in /dev/shm): a full disk, a file-size limit
            raise PoolpipeError(
                f"the process pool cannot start: its shared memory cannot be made ({exc.strerror})"
            ) from None
        self.free = deque(range(width))
        self.dead_since: float | None = None
        self.pending: deque[tuple[int, Any, Future[Any]]] = deque()
        self.executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=self.context,
            initializer=_init_worker,
            initargs=(self.slots, *start),
        )

    def results(self, tasks: Iterator[T], stop: StopOnSignals) -> Iterator[R]:
        """Keep every free slot busy and yield the oldest task's result, until tasks run out."""
        more = True
        while True:
            stop.check()
            more = more and self._submit(tasks, stop)
            if not self.pending:
                return
            yield self._oldest_result(stop)

    def _submit(self, tasks: Iterator[T], stop: StopOnSignals) -> bool:
        """Submit tasks while a slot is free; False once tasks has run out."""
        while self.free:
            try:
                task = next(tasks)
            except StopIteration:
                return False
            slot = self.free.popleft()
            self.slots[slot] = 0
            try:
                # The first submit forks the workers: they must not inherit our handlers
                # with a signal pending (see signals_held).
                with signals_held():
                    future = self.executor.submit(_call, slot, self.fn, task)
            except BrokenProcessPool:
                raise self._died(stop) from None
            self.pending.append((slot, task, future))
        return True

    def _oldest_result(self, stop: StopOnSignals) -> Any:
        """The result of the oldest task in flight, which frees its slot."""
        slot, _, future = self.pending[0]
        try:
            result = _result(future, stop, self._watch)
        except BrokenProcessPool:
            raise self._died(stop) from None
        self.pending.popleft()
        self.free.append(slot)
        return result

    def _watch(self) -> None:
        """Break the pool when a worker has been dead for STALL_S and the executor has not seen
        it: its manager thread is reading a result the worker died halfway through sending."""
        if self.dead_since is None:
            if any(proc.exitcode is not None for proc in self.context.started):
                self.dead_since = time.monotonic()
        elif time.monotonic() - self.dead_since >= STALL_S:
            for proc in self.context.started:  # SIGTERM: _died names the one that died first
                with contextlib.suppress(Exception):
                    proc.terminate()
            join_all(self.context.started)
            self.context.end_results()

    def _died(self, stop: StopOnSignals) -> WorkerDied:
        """The error for a broken pool, unless a signal came first: then the signal is what
        killed the worker, and Stopped is raised instead."""
        died = _died(self.pending, self.slots, self.context.workers(), self.describe)
        stop.check()
        return died

    def close(self, clean: bool) -> None:
        """Let the workers finish after a clean run; otherwise kill them first."""
        if clean:
            self.executor.shutdown(wait=True)
        else:
            _stop(self.executor, self.context)


def _result(future: Future[R], stop: StopOnSignals, watch: Callable[[], None]) -> R:
    """The future's result, looking for a signal (and calling watch) every POLL_S as it waits."""
    while True:
        try:
            future.exception(timeout=POLL_S)
        except TimeoutError:
            stop.check()
            watch()
            continue
        return future.result()


def _stop(executor: ProcessPoolExecutor, context: _ForkRecorder) -> None:
    """Kill every worker and wait for each, so none outlives the pool."""
    kill_all(context.started)
    join_all(context.started)
    context.end_results()
    # Wait for the executor's manager thread too (it sees the dead workers and tears down). Left
    # running, it races the interpreter's exit: concurrent.futures' exit hook writes to the
    # thread's wake-up pipe without a lock while the thread closes it, and a Ctrl-C then ended
    # in a traceback from threading._shutdown ("Bad file descriptor").
    executor.shutdown(wait=True, cancel_futures=True)


def kill_all(procs: Iterable[mp.process.BaseProcess]) -> None:
    """SIGKILL every process of procs that is still running."""
    for proc in procs:
        with contextlib.suppress(Exception):
            if proc.exitcode is None:
                proc.kill()


def join_all(procs: Iterable[mp.process.BaseProcess], timeout: float = 10.0) -> None:
    """Wait for (and reap) every process of procs, each at most timeout seconds."""
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=timeout)


def _died(
    pending: deque[tuple[int, Any, Future[Any]]],
    slots: SynchronizedArray[int],
    workers: dict[int, mp.process.BaseProcess],
    describe: Callable[[Any], str],
) -> WorkerDied:
    """Name the task whose worker ended on its own; the executor SIGTERMs the others itself."""
    codes = _exit_codes(workers)
    running = [(slots[slot], task) for slot, task, _ in pending if slots[slot] > 0]
    for pid, task in running:
        code = codes.get(pid)
        if code is not None and code != -signal.SIGTERM:
            return WorkerDied(
                f"worker process {pid} died with {exit_text(code)} while running {describe(task)}"
            )
    names = " or ".join(describe(task) for _, task in running) or "one of the tasks"
    return WorkerDied(f"a worker process died abruptly while running {names}")


def _exit_codes(workers: dict[int, mp.process.BaseProcess], wait_s: float = 5.0) -> dict[int, int]:
    """Exit codes of the pool's workers, waiting briefly while the executor reaps them."""
    deadline = time.monotonic() + wait_s
    for proc in workers.values():
        with contextlib.suppress(Exception):
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
    while time.monotonic() < deadline and any(p.exitcode is None for p in workers.values()):
        time.sleep(0.01)
    return {pid: p.exitcode for pid, p in workers.items() if p.exitcode is not None}


def exit_text(code: int) -> str:
    """How a process ended, in words: 'exit code 3' or 'signal SIGKILL'."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"exit code {code}"


def serial_map(fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
    """Run fn over tasks in this process: the single-process baseline for timing comparisons."""
    return map(fn, tasks)
