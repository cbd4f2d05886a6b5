"""The file task queue: read, write, copy and checksum tasks from a JSON Lines manifest.

The parent reads the manifest and feeds the tasks through one multiprocessing.Queue
to worker processes, which put their outcomes on a results queue and stop at a
None sentinel each, as in the seed's scheduler. The parent yields one result per
manifest line, in manifest order, with a bounded number of tasks in flight; two
tasks that touch the same file (and one of them writes it) never run at once, so
the results are those of running the manifest top to bottom. Every path is
confined to the root (see poolpipe.tasks.root) and every write is atomic.

A worker that dies (killed, out of memory) fails the whole run with WorkerDied
naming the manifest line it was running: a dead worker may have left the shared
queues unusable, and a run that reports every task or fails loudly loses none.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any, BinaryIO

from poolpipe.core import tsv
from poolpipe.core.outputs import open_atomic
from poolpipe.core.pool import (
    StopOnSignals,
    WorkerDied,
    exit_text,
    init_child,
    join_all,
    kill_all,
    signals_held,
)
from poolpipe.errors import PoolpipeError, Stopped
from poolpipe.tasks.root import PathError, Root

OPS = ("read", "write", "copy", "checksum")
FIELDS = ("line", "op", "path", "ok", "bytes", "sha256", "error")
BLOCK_SIZE = 1 << 20
"""Bytes read or written at a time by read, copy and checksum tasks."""

ERROR_CHARS = 300
"""Longest error message a result carries (so every result is one small message)."""

POLL_S = 0.1
"""How often the parent looks for a dead worker while it waits for results."""

STOP_GRACE_S = 5.0
"""How long a stopped worker may take to remove its temporary file before SIGKILL."""

_KEYS = {"op", "path", "content", "src"}


@dataclass(frozen=True)
class Task:
    """One valid manifest line: what to do, to which path (relative to the root)."""

    line: int
    op: str
    path: str
    content: str | None = None
    src: str | None = None

    def describe(self) -> str:
        """The task in words, for messages."""
        what = f"{self.src!r} to {self.path!r}" if self.op == "copy" else repr(self.path)
        return f"manifest line {self.line} ({self.op} {what})"


@dataclass(frozen=True)
class Outcome:
    """What a worker reports for one task."""

    ok: bool
    bytes: int | None = None
    sha256: str = ""
    error: str = ""


@dataclass(frozen=True)
class TaskResult:
    """One row of results.tsv: a task (or a manifest line that is not one) and its outcome."""

    line: int
    op: str
    path: str
    ok: bool
    bytes: int | None = None
    sha256: str = ""
    error: str = ""

    @classmethod
    def of(cls, task: Task, outcome: Outcome) -> TaskResult:
        """The row of a task that ran."""
        return cls(task.line, task.op, task.path, *_fields(outcome))

    def cells(self) -> tuple[object, ...]:
        """The values of its results.tsv row, in FIELDS order."""
        return (self.line, self.op, self.path, self.ok, self.bytes, self.sha256, self.error)


def _fields(outcome: Outcome) -> tuple[bool, int | None, str, str]:
    return outcome.ok, outcome.bytes, outcome.sha256, outcome.error


def _refused(line: int, message: str, op: object = "", path: object = "") -> TaskResult:
    return TaskResult(
        line,
        op if isinstance(op, str) else "",
        path if isinstance(path, str) else "",
        False,
        error=message,
    )


def parse_task(line: int, text: bytes) -> Task | TaskResult:
    """A manifest line as a Task, or the error row saying why it is not one."""
    try:
        item = json.loads(text)
    except UnicodeDecodeError:
        return _refused(line, "the line is not UTF-8 text")
    except ValueError as exc:
        return _refused(line, f"the line is not valid JSON ({exc.args[0].split(':')[0]})")
    if not isinstance(item, dict):
        return _refused(line, "the line is not a JSON object")
    op, path = item.get("op"), item.get("path")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        return _refused(line, f"unknown key {unknown[0]!r}", op, path)
    if "op" not in item:
        return _refused(line, "the task has no 'op'", op, path)
    if op not in OPS:
        return _refused(line, f"unknown op {op!r} (one of {', '.join(OPS)})", op, path)
    if not isinstance(path, str) or not path:
        return _refused(line, "'path' must be a non-empty string", op, path)
    content, src = item.get("content"), item.get("src")
    if op == "write" and not isinstance(content, str):
        return _refused(line, "a write task needs 'content', a string", op, path)
    if op == "write" and not _is_text(content):
        return _refused(line, "'content' is not valid Unicode text", op, path)
    if op != "write" and "content" in item:
        return _refused(line, "'content' belongs only to write tasks", op, path)
    if op == "copy" and (not isinstance(src, str) or not src):
        return _refused(line, "a copy task needs 'src', a non-empty string", op, path)
    if op != "copy" and "src" in item:
        return _refused(line, "'src' belongs only to copy tasks", op, path)
    return Task(line, op, path, content, src)


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_manifest(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a task manifest; one sentence if it cannot be opened."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise PoolpipeError(f"task manifest {os.fspath(path)!r} does not exist") from None
    except IsADirectoryError:
        raise PoolpipeError(f"task manifest {os.fspath(path)!r} is a folder") from None
    except OSError as exc:
        raise PoolpipeError(f"task manifest {os.fspath(path)!r}: {exc.strerror}") from None


def manifest_tasks(fh: BinaryIO) -> Iterator[Task | TaskResult]:
    """Every non-blank line of an open JSON Lines manifest, as a Task or an error row, streamed."""
    for number, text in enumerate(fh, start=1):
        if text.strip():
            yield parse_task(number, text)


# --- running one task (in a worker) ---------------------------------------------------------


def run_task(root: Root, task: Task) -> Outcome:
    """Do one task beneath root; any refusal or OS error becomes an error outcome."""
    try:
        if task.op == "write":
            assert task.content is not None
            return _write(root, task.path, task.content.encode("utf-8"))
        if task.op == "copy":
            assert task.src is not None
            return _copy(root, task.src, task.path)
        return _read(root, task.path, text=task.op == "read")
    except PathError as exc:
        return Outcome(False, error=str(exc)[:ERROR_CHARS])
    except OSError as exc:
        return Outcome(False, error=(exc.strerror or str(exc))[:ERROR_CHARS])
    except ValueError as exc:
        return Outcome(False, error=str(exc)[:ERROR_CHARS])


def _blocks(fd: int) -> Iterator[bytes]:
    with os.fdopen(fd, "rb", buffering=0) as fh:
        while block := fh.read(BLOCK_SIZE):
            yield block


def _read(root: Root, path: str, text: bool) -> Outcome:
    fd, _ = root.open_file(path)
    digest = hashlib.sha256()
    size = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for block in _blocks(fd):
            digest.update(block)
            if text:
                _decode(decoder, block, size)
            size += len(block)
        if text:
            _decode(decoder, b"", size)
    except _NotText as exc:
        return Outcome(False, error=f"the file is not UTF-8 text (byte {exc.offset})")
    return Outcome(True, size, digest.hexdigest())


class _NotText(Exception):
    def __init__(self, offset: int) -> None:
        self.offset = offset


def _decode(decoder: codecs.IncrementalDecoder, block: bytes, offset: int) -> None:
    """Feed block (at file offset) to decoder; an empty block ends the file."""
    held = len(decoder.getstate()[0])
    try:
        decoder.decode(block, final=not block)
    except UnicodeDecodeError as exc:
        raise _NotText(offset - held + exc.start) from None


def _write(root: Root, path: str, data: bytes) -> Outcome:
    target = root.target(path)
    try:
        with open_atomic(target.name, dir_fd=target.dir_fd) as fh:
            fh.write(data)
    finally:
        target.close()
    return Outcome(True, len(data), hashlib.sha256(data).hexdigest())


def _copy(root: Root, src: str, path: str) -> Outcome:
    fd, _ = root.open_file(src)
    digest = hashlib.sha256()
    size = 0
    try:
        target = root.target(path)
    except BaseException:
        os.close(fd)
        raise
    try:
        with open_atomic(target.name, dir_fd=target.dir_fd) as fh:
            for block in _blocks(fd):
                fh.write(block)
                digest.update(block)
                size += len(block)
    finally:
        target.close()
    return Outcome(True, size, digest.hexdigest())


# --- the queue ------------------------------------------------------------------------------


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def _worker(
    index: int,
    root_path: str,
    parent: int,
    tasks: mp.Queue[tuple[int, Task] | None],
    results: mp.Queue[tuple[int, Outcome]],
    slots: SynchronizedArray[int],
) -> None:
    """Take tasks until the None sentinel; slots[index] holds the sequence number + 1 of the
    latest task taken, so the parent can name the task of a worker that died."""
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
    """The parent's side: worker processes, the two queues, what is in flight, and the
    results waiting for their turn in manifest order."""

    def __init__(self, root: Root, processes: int, stop: StopOnSignals) -> None:
        ctx = mp.get_context("fork")
        self.root = root
        self.stop = stop
        self.tasks: mp.Queue[tuple[int, Task] | None] = ctx.Queue()
        self.results: mp.Queue[tuple[int, Outcome]] = ctx.Queue()
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
            self.ready[seq] = TaskResult.of(task, Outcome(False, error=str(exc)[:ERROR_CHARS]))
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
        """The next result to arrive; WorkerDied if a worker died meanwhile (checked after every
        result too, so a death is seen even while the other workers keep results coming)."""
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
        """Raise WorkerDied for a worker that has ended (after Stopped, if a signal came: a
        SIGTERM sent to the whole process group ends the workers too)."""
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
        """Stop every worker (SIGTERM: a write removes its temporary file), SIGKILL those that
        take too long (an fsync cannot be interrupted), and remove what they left."""
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
    in_flight: int | None = None,
) -> Iterator[TaskResult]:
    """Run a manifest's tasks in `processes` worker processes; yield one row per manifest line,
    in manifest order. At most in_flight tasks (default 2 per process) are queued at once.

    SIGTERM and SIGINT raise Stopped, and a dead worker WorkerDied, the next time the
    generator runs; either way every worker is stopped and its temporary files removed.
    Close the generator (contextlib.closing, or run_to_file) if it may be left unfinished.
    """
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


@dataclass(frozen=True)
class Summary:
    """Counts over a run's rows."""

    tasks: int
    ok: int
    failed: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"tasks": self.tasks, "ok": self.ok, "failed": self.failed, "bytes": self.bytes}


def write_results(path: str | os.PathLike[str], rows: Iterable[TaskResult]) -> Summary:
    """Write rows to results.tsv (atomically, with a header); return their counts."""
    tasks = ok = size = 0

    def counted() -> Iterator[tuple[object, ...]]:
        nonlocal tasks, ok, size
        for row in rows:
            tasks += 1
            ok += row.ok
            size += row.bytes or 0
            yield row.cells()

    tsv.write(path, FIELDS, counted())
    return Summary(tasks, ok, tasks - ok, size)


def run_to_file(
    manifest: str | os.PathLike[str],
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    processes: int,
) -> Summary:
    """Run a manifest and write its results.tsv; the workers are stopped before this returns,
    whatever happens (the rows are never left to a garbage collector to close)."""
    with contextlib.closing(run_tasks(manifest, root, processes)) as rows:
        return write_results(out, rows)
