"""The four task operations, run by a worker beneath the root: read, write, copy, checksum.

Every path is confined to the root (see poolpipe.tasks.root) and every write is atomic.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator

from poolpipe.core.outputs import open_atomic, remove_stale_temporaries, stale_temporary
from poolpipe.errors import PathError, PoolpipeError
from poolpipe.tasks.results import Task, TaskOutcome
from poolpipe.tasks.root import Root

BLOCK_SIZE = 1 << 20
"""Bytes read or written at a time by read, copy and checksum tasks."""

TRANSIENT = frozenset(
    {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EIO, errno.ENOSPC, errno.EDQUOT}
    | {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ETIMEDOUT, errno.ESTALE}
)
"""OS errors that a retry may get past (a busy, full or flaky disk, too many open files)."""


def run_task(root: Root, task: Task, *, check: bool = False) -> TaskOutcome:
    """Do one task beneath root; any refusal or OS error becomes an error outcome. With check,
    a write or copy whose target already holds its bytes is reported done without writing.
    Before a write or copy, temporary files of this task that a killed run left beside its
    target are removed."""
    try:
        if check and task.op in ("write", "copy"):
            remove_temporaries(root, [task])
            if done := _in_place(root, task):
                return done
        if task.op == "write":
            assert task.content is not None
            return _write(root, task, task.content.encode("utf-8"))
        if task.op == "copy":
            return _copy(root, task)
        return _read(root, task.path, text=task.op == "read")
    except PathError as exc:
        return TaskOutcome.failed(str(exc))
    except PoolpipeError as exc:
        # open_atomic's one sentence for a full disk or a file-size limit; its cause says which
        cause = exc.__context__
        if isinstance(cause, OSError) and cause.strerror:
            return TaskOutcome.failed(cause.strerror, transient=cause.errno in TRANSIENT)
        return TaskOutcome.failed(str(exc))
    except OSError as exc:
        return TaskOutcome.failed(exc.strerror or str(exc), transient=exc.errno in TRANSIENT)
    except ValueError as exc:
        return TaskOutcome.failed(str(exc))


WOULD_WAIT = "the file would make its reader wait for more bytes (not a plain file)"


def _blocks(fd: int) -> Iterator[bytes]:
    """The blocks of a file opened without waiting (root.open_file): a read that would wait
    (/proc/kmsg) is an error, never the file's end, and not one a retry gets past (each read
    of /proc/kmsg takes messages from the system's logger)."""
    with os.fdopen(fd, "rb", buffering=0) as fh:
        while (block := fh.read(BLOCK_SIZE)) is not None:
            if not block:
                return
            yield block
    raise ValueError(WOULD_WAIT)


def _read(root: Root, path: str, text: bool) -> TaskOutcome:
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
        return TaskOutcome.failed(f"the file is not UTF-8 text (byte {exc.offset})")
    return TaskOutcome(ok=True, bytes=size, sha256=digest.hexdigest())


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


def temporary_prefix(name: str, task: Task) -> str:
    """How the names of a task's temporary files beside its target `name` begin: unmistakably
    ours, and the task's own (its hash), so that cleanup never takes another's file; the
    writer's host, pid and random hex follow (poolpipe.core.outputs.temporary_name)."""
    return f".{name}.poolpipe-{task.digest or 'task'}."


_TASK_TEMPORARY = re.compile(
    r"(?P<prefix>\..+\.poolpipe-(?:[0-9a-f]{16}|task)\.)[0-9a-f]{8}-[0-9]+-[0-9a-f]{12}\.tmp",
    re.DOTALL,
)
_LEFT: dict[tuple[int, int, int], dict[str, list[str]]] = {}
"""Per process and folder written into (pid, device, inode): the temporary files that dead
writers left there when the process first looked, by prefix. One listing per folder and
process, so many writes into one folder cost no listing each; what is created later is a live
writer's, never stale, or a dead worker's, which the queue removes itself."""


def _remove_left(dir_fd: int, prefix: str) -> None:
    """Remove the temporary files with this prefix that dead writers left in folder dir_fd."""
    info = os.fstat(dir_fd)
    key = (os.getpid(), info.st_dev, info.st_ino)  # a forked worker starts afresh
    left = _LEFT.get(key)
    if left is None:
        left = {}
        for entry in os.listdir(dir_fd):
            found = _TASK_TEMPORARY.fullmatch(entry)
            if found and stale_temporary(entry, found["prefix"]):
                left.setdefault(found["prefix"], []).append(entry)
        _LEFT[key] = left
    for entry in left.pop(prefix, ()):
        with contextlib.suppress(FileNotFoundError):
            info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                os.unlink(entry, dir_fd=dir_fd)


def _write(root: Root, task: Task, data: bytes) -> TaskOutcome:
    target = root.target(task.path)
    try:
        root.check_replaceable(target)
        prefix = temporary_prefix(target.name, task)
        with contextlib.suppress(OSError):  # best effort: a folder we cannot list is no loss
            _remove_left(target.dir_fd, prefix)
        with open_atomic(target.name, dir_fd=target.dir_fd, prefix=prefix) as fh:
            fh.write(data)
    finally:
        target.close()
    return TaskOutcome(ok=True, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def _copy(root: Root, task: Task) -> TaskOutcome:
    assert task.src is not None
    fd, _ = root.open_file(task.src)
    digest = hashlib.sha256()
    size = 0
    try:
        target = root.target(task.path)
    except BaseException:
        os.close(fd)
        raise
    try:
        root.check_replaceable(target)
        prefix = temporary_prefix(target.name, task)
        with contextlib.suppress(OSError):  # best effort: a folder we cannot list is no loss
            _remove_left(target.dir_fd, prefix)
        with open_atomic(target.name, dir_fd=target.dir_fd, prefix=prefix) as fh:
            for block in _blocks(fd):
                fh.write(block)
                digest.update(block)
                size += len(block)
    finally:
        target.close()
    return TaskOutcome(ok=True, bytes=size, sha256=digest.hexdigest())


def holds(root: Root, task: Task, recorded: TaskOutcome) -> bool:
    """Whether the files of a task recorded done still hold what its row says: a read's or a
    checksum's file, a write's target, a copy's source and target (every byte hashed)."""
    try:
        if task.op in ("write", "copy"):
            return _in_place(root, task) == recorded
        return _read(root, task.path, text=task.op == "read") == recorded
    except (PathError, PoolpipeError, OSError, ValueError):
        return False


def _in_place(root: Root, task: Task) -> TaskOutcome | None:
    """The outcome of a write or copy whose target already holds exactly its bytes, else None."""
    if task.op == "write":
        assert task.content is not None
        data = task.content.encode("utf-8")
        want = TaskOutcome(ok=True, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    else:
        assert task.src is not None
        want = _read(root, task.src, text=False)
    try:
        have = _read(root, task.path, text=False)
    except (PathError, OSError):
        return None
    return want if want.ok and have == want else None


def remove_temporaries(root: Root, tasks: Iterable[Task]) -> None:
    """Remove the temporary files that killed writes or copies of these tasks left beside their
    targets: regular files of ours whose names only these tasks make (temporary_prefix), of
    writers that no longer live."""
    for task in tasks:
        if task.op not in ("write", "copy"):
            continue
        with contextlib.suppress(OSError, PoolpipeError):
            target = root.target(task.path, create=False)
            try:
                remove_stale_temporaries(target.dir_fd, temporary_prefix(target.name, task))
            finally:
                target.close()
