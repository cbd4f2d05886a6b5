"""The task queue: worker processes that run a manifest's tasks, results in manifest order.

The parent reads the manifest and hands each task to an idle worker over that worker's own
Pipe (poolpipe.tasks.workers); the worker sends its outcome back. The parent yields one
result per manifest line, in manifest order, with at most in_flight tasks (default 2 per
process) between reading and writing at once; two tasks that touch the same file (and one
of them writes it) never run at once, so the results are those of running the manifest top
to bottom. Each outcome is recorded (the journal) as soon as it arrives, before a task
that touches the same files may start.

A task that runs over policy.timeout_s has its worker killed and replaced and gets an error
row; a task that failed for a transient reason (a timeout, a busy or full disk; never a
refused path) runs again, up to policy.retries times, after an exponential backoff. A
worker that dies on its own (killed, out of memory) fails the whole run with WorkerDied
naming the manifest line it was running. SIGTERM and SIGINT raise Stopped the next time the
generator of rows runs. Either way every worker is stopped and its temporary files removed;
close the generator (contextlib.closing, or run_to_file) if it may be left unfinished.
"""

from __future__ import annotations

import heapq
import logging
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields

from poolpipe.core.defaults import schema_bounds, schema_defaults
from poolpipe.core.pool import StopOnSignals, exit_text
from poolpipe.core.timing import Backoff
from poolpipe.errors import PathError, PoolpipeError, WorkerDied
from poolpipe.tasks.ops import remove_temporaries
from poolpipe.tasks.results import Task, TaskOutcome, TaskResult
from poolpipe.tasks.root import Root
from poolpipe.tasks.workers import Slot, Workers

# --- how a run treats a slow or failing task: its timeout, its retries and their backoff ---

_DEFAULTS = schema_defaults("tasks")

JITTER = 0.5
"""The share of a retry's wait that is drawn at random, so retries do not come in step."""


@dataclass(frozen=True, kw_only=True)
class TaskPolicy:
    """A task's timeout (None: none) and its retries after a transient failure."""

    timeout_s: float | None = _DEFAULTS["timeout_s"]
    retries: int = _DEFAULTS["retries"]
    backoff_s: float = _DEFAULTS["backoff_s"]
    backoff_max_s: float = _DEFAULTS["backoff_max_s"]

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None and item.name == "timeout_s":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PoolpipeError(f"tasks setting {item.name} must be a number, not {value!r}")
            problem = schema_bounds(f"tasks.{item.name}").problem(value)
            if problem:
                raise PoolpipeError(f"tasks setting {item.name} {problem}")

    def backoff(self) -> Backoff:
        """The waits between retries."""
        return Backoff(base_s=self.backoff_s, max_s=self.backoff_max_s, jitter=JITTER)


# --- which tasks may run at once: two that touch the same file, one writing it, never do ---


def _overlap(a: str, b: str) -> bool:
    """Whether two real paths are the same file or one lies inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def conflicts(reads: list[str], writes: list[str], other: Job) -> bool:
    """Whether a task must wait for another: either writes what the other one touches."""
    return any(_overlap(w, o) for w in writes for o in (*other.reads, *other.writes)) or any(
        _overlap(r, w) for r in reads for w in other.writes
    )


def task_files(root: Root, task: Task) -> tuple[list[str], list[str]]:
    """The real paths a task reads and writes, for ordering (PathError if one is refused)."""
    if task.op == "write":
        return [], [root.key(task.path)]
    if task.op == "copy":
        assert task.src is not None
        return [root.key(task.src)], [root.key(task.path)]
    return [root.key(task.path)], []


@dataclass
class Job:
    """A task between its submission and its row: queued, running, or waiting to retry."""

    task: Task
    reads: list[str]
    writes: list[str]
    check: bool
    attempts: int = 0
    kept: TaskResult | None = None
    """A resumed run's row of the task, kept if its files still hold what it says."""


# --- the queue ------------------------------------------------------------------------------

POLL_S = 0.1
"""How often the parent looks for a dead worker while it waits for results."""

STOP_GRACE_S = 5.0
"""How long a stopped worker may take to remove its temporary file before SIGKILL."""

_log = logging.getLogger(__name__)


class _Queue:
    """The parent's side: the workers, the tasks in flight, the results not yet due."""

    def __init__(
        self,
        root: Root,
        processes: int,
        stop: StopOnSignals,
        policy: TaskPolicy | None = None,
        record: Callable[[TaskResult], None] | None = None,
    ) -> None:
        self.root, self.stop = root, stop
        self.policy = policy or TaskPolicy()
        self.record = record
        self.pending: dict[int, Job] = {}
        self.waiting: deque[int] = deque()
        self.later: list[tuple[float, int]] = []
        self.ready: dict[int, TaskResult] = {}
        self.emitted = 0
        self.changed = 0
        """Rows of a resumed run whose files no longer held what they say: their tasks ran."""
        self.workers = Workers(root, processes)

    @property
    def procs(self) -> list:
        """Every worker process started, replaced ones included."""
        return self.workers.procs

    def submit(
        self, seq: int, task: Task, *, check: bool = False, kept: TaskResult | None = None
    ) -> None:
        """Queue a task once no task in flight touches its files; refuse it if a path is bad.
        With kept (a resumed run's row of the task), the row stands if the task's files still
        hold what it says, else the task runs."""
        try:
            reads, writes = task_files(self.root, task)
        except PathError as exc:
            self._done(seq, TaskResult.of(task, TaskOutcome.failed(str(exc))))
            return
        while any(conflicts(reads, writes, job) for job in self.pending.values()):
            self.collect()
        self.pending[seq] = Job(task, reads, writes, check, kept=kept)
        self.waiting.append(seq)
        self._dispatch()

    def add_row(self, seq: int, row: TaskResult) -> None:
        """A row that needs no worker: a manifest error, or one a resumed run keeps."""
        self.ready[seq] = row

    def _done(self, seq: int, row: TaskResult) -> None:
        if self.record is not None:
            self.record(row)
        self.ready[seq] = row

    def _dispatch(self) -> None:
        while self.waiting and (slot := self.workers.idle()) is not None:
            seq = self.waiting.popleft()
            job = self.pending[seq]
            try:
                recorded = None if job.kept is None else _recorded(job.kept)
                self.workers.send(slot, seq, job.task, check=job.check, recorded=recorded)
            except OSError:  # its worker died before taking the task (a signal, the OOM killer)
                slot.proc.join(timeout=STOP_GRACE_S)
                self.stop.check()
                raise self._died(slot) from None

    def collect(self, also: int | None = None) -> None:
        """Wait a little for outcomes, timeouts and retries that fall due (or for the file
        descriptor also to be readable), and act on them; WorkerDied if a worker died on its
        own, Stopped on a signal."""
        self.stop.check()
        done, dead = self.workers.wait(self._wake_in(), also)
        self.stop.check()
        for slot, seq, outcome in done:
            self._outcome(slot, seq, outcome, time.monotonic() - slot.since)
        if dead:
            raise self._died(dead[0])
        self._time_out()
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            self.waiting.append(heapq.heappop(self.later)[1])
        self._dispatch()

    def wait_readable(self, fd: int) -> None:
        """Go on collecting until fd (a pipe manifest) can be read without waiting."""
        ready = select.poll()
        ready.register(fd, select.POLLIN)
        while not ready.poll(0):
            self.collect(also=fd)

    def _wake_in(self) -> float:
        """Seconds until the next poll, timeout or retry is due."""
        now, due = time.monotonic(), [POLL_S]
        if self.later:
            due.append(self.later[0][0] - now)
        timeout = self.policy.timeout_s
        if timeout is not None:
            due += [s.since + timeout - now for s in self.workers.slots if s.seq is not None]
        return max(0.0, min(due))

    def _time_out(self) -> None:
        timeout = self.policy.timeout_s
        if timeout is None:
            return
        for slot in self.workers.slots:
            late = slot.seq is not None and time.monotonic() - slot.since > timeout
            if late and not slot.conn.poll():  # an outcome already sent is taken, not killed
                seq, runtime = slot.seq, time.monotonic() - slot.since
                task = self.pending[seq].task
                _log.warning(
                    "%s ran over its timeout of %g s: its worker is replaced",
                    task.describe(),
                    timeout,
                )
                self.workers.replace(slot)
                remove_temporaries(self.root, [task])
                why = f"the task ran over its timeout of {timeout:g} s and was stopped"
                self._outcome(slot, seq, TaskOutcome.failed(why, transient=True), runtime)

    def _outcome(self, slot: Slot, seq: int, outcome: TaskOutcome | None, runtime: float) -> None:
        if outcome is None:  # a resumed run's row whose files still hold what it says
            kept = self.pending.pop(seq).kept
            assert kept is not None
            self.ready[seq] = kept
            return
        job = self.pending[seq]
        job.attempts += 1
        if not outcome.ok and outcome.transient and job.attempts <= self.policy.retries:
            delay = self.policy.backoff().delay(job.attempts)
            _log.info(
                "%s failed (%s): retry %d of %d in %.2f s",
                job.task.describe(),
                outcome.error,
                job.attempts,
                self.policy.retries,
                delay,
            )
            job.check = True  # a write that landed before its worker was killed is not redone
            heapq.heappush(self.later, (time.monotonic() + delay, seq))
            return
        del self.pending[seq]
        if job.kept is not None:
            self.changed += 1
            _log.info(
                "%s: its files changed since its row was recorded; it ran again",
                job.task.describe(),
            )
        how = {"attempts": job.attempts, "start": slot.started, "runtime_s": runtime}
        self._done(seq, TaskResult.of(job.task, outcome, worker=slot.index + 1, **how))

    def in_order(self) -> list[TaskResult]:
        """Take out the results that are next in manifest order."""
        out = []
        while self.emitted in self.ready:
            out.append(self.ready.pop(self.emitted))
            self.emitted += 1
        return out

    def _died(self, slot: Slot) -> WorkerDied:
        proc = slot.proc
        how = exit_text(proc.exitcode or 0)
        job = None if slot.seq is None else self.pending.get(slot.seq)
        if job is None:
            return WorkerDied(
                f"task worker process {proc.pid} died with {how} while idle or taking its next task"
            )
        return WorkerDied(
            f"task worker process {proc.pid} died with {how} while running {job.task.describe()}"
        )

    def finish(self) -> None:
        """Send each worker its sentinel and wait for all to exit."""
        self.workers.finish()
        for slot in self.workers.slots:
            if slot.proc.exitcode != 0:
                raise WorkerDied(
                    f"task worker process {slot.proc.pid} ended with "
                    f"{exit_text(slot.proc.exitcode or 0)} after the last task"
                )

    def abort(self) -> None:
        """SIGTERM every worker, SIGKILL those that outlast STOP_GRACE_S, remove what they left."""
        self.workers.terminate(STOP_GRACE_S)
        remove_temporaries(self.root, [job.task for job in self.pending.values()])


def _recorded(row: TaskResult) -> TaskOutcome:
    """The outcome a row records (what a check of its files compares with)."""
    return TaskOutcome(ok=row.ok, bytes=row.bytes, sha256=row.sha256, error=row.error)
