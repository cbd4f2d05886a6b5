"""The journal of a run and what --resume takes from it: rows recorded as tasks finish.

While a run goes, each task's row is appended to `<results>.journal` the moment its outcome
arrives, in one write(2), before any task that touches the same files may start; the final
results.tsv is then written in manifest order and the journal removed. A run killed at any
point (SIGKILL included) leaves every finished task in the journal or, for a write or copy
that finished in the instant before its row, in its target: a resumed run checks such a
target and records it done without writing it again (see ops.run_task's check).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from poolpipe.core import tsv
from poolpipe.errors import PoolpipeError
from poolpipe.tasks.results import FIELDS, TaskResult

HEADER = "\t".join(FIELDS) + "\n"


def journal_path(results: str | os.PathLike[str]) -> Path:
    """Where the journal of a run writing `results` goes."""
    path = Path(results)
    return path.with_name(path.name + ".journal")


class Journal:
    """An append-only TSV of rows, each written whole with one write(2) as it comes.

    The journal is opened before any task runs and never through a symlink: a fresh run
    creates it exclusively (O_EXCL), replacing only a journal an earlier run left (its first
    line is our header); a resumed run appends to that one. Anything else at its path is
    refused, never truncated. The run's process holds a lock on the journal while it is open
    (a POSIX record lock: its pool workers do not share it, and its end, a kill included, lets
    it go), so a second run on the same results file is refused rather than removing the
    journal of one still working.
    """

    def __init__(self, path: str | os.PathLike[str], *, append: bool) -> None:
        self.path = Path(path)
        self.append = append
        self._fd = -1
        self._created = False
        self._rows = 0

    def open(self) -> None:
        """Create the journal, or open the earlier run's for appending; one sentence if a
        file that is not a journal, or a symlink, is in the way."""
        try:
            kept = earlier_journal(self.path)
            if kept == "rows" and self.append:
                self._fd = self._held(os.open(self.path, _APPEND), fcntl.LOCK_EX)
                _end_torn_line(self._fd)
                return
            if kept:  # an earlier run's, removed while a shared lock says none writes it
                fd = self._held(os.open(self.path, _READ), fcntl.LOCK_SH)
                self.path.unlink()
                os.close(fd)
            try:
                fd = os.open(self.path, _CREATE, 0o644)
            except FileExistsError:
                raise self._busy() from None  # another run made it in the meantime
            self._fd = self._held(fd, fcntl.LOCK_EX)
            self._created = True
            _write_all(self._fd, HEADER.encode())
        except OSError as exc:
            self.close()
            raise PoolpipeError(
                f"journal {str(self.path)!r} cannot be written: {exc.strerror}"
            ) from None

    def _held(self, fd: int, kind: int) -> int:
        """fd once it holds the journal's lock and is still the file at its path; the fd is
        closed and one sentence raised where another run holds it (or replaced it meanwhile)."""
        try:
            fcntl.lockf(fd, kind | fcntl.LOCK_NB)
            ours = os.path.samestat(os.fstat(fd), os.lstat(self.path))
        except OSError as exc:
            if exc.errno in _NO_LOCKS:  # a file system without locks (NFS without lockd)
                return fd
            if exc.errno not in (errno.EACCES, errno.EAGAIN, errno.ENOENT):
                os.close(fd)
                raise
            ours = False
        except BaseException:
            os.close(fd)
            raise
        if not ours:
            os.close(fd)
            raise self._busy()
        return fd

    def _busy(self) -> PoolpipeError:
        return PoolpipeError(
            f"another run is writing journal {str(self.path)!r}: let it finish or choose "
            "another --out"
        )

    def record(self, row: TaskResult) -> None:
        """Append a row."""
        if self._fd < 0:
            self.open()
        try:
            _write_all(self._fd, tsv.line(row.cells()).encode("utf-8"))
        except OSError as exc:
            raise PoolpipeError(
                f"journal {str(self.path)!r} cannot be written: {exc.strerror}"
            ) from None
        self._rows += 1

    def close(self, *, remove: bool = False) -> None:
        """Close the journal; remove it once the results are written, or if this run made it
        and recorded nothing in it. It is removed before it is closed, while its lock is held:
        a run starting as the lock goes makes a journal of its own, which this one would remove."""
        if remove or (self._created and self._rows == 0):
            self.path.unlink(missing_ok=True)
            self._created = False
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS})
"""What lockf raises where the file system keeps no locks: a run there goes on without one, as
it did before runs were locked."""

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_APPEND | os.O_CLOEXEC
_APPEND = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

MAX_ROW = 1 << 16
"""Longest results row read back (a path of 4096 bytes, escaped, fits many times over)."""


def earlier_journal(path: Path) -> str:
    """What is at path: "" (nothing), "rows" (an earlier run's journal) or "torn" (one killed
    while its header was written, so without rows); one sentence if a symlink or a file that
    is not a journal is."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return ""
    if stat.S_ISREG(info.st_mode):
        first = _first_line(path)
        if first == HEADER.encode():
            return "rows"
        if info.st_size == len(first) and HEADER.encode().startswith(first):
            return "torn"
    what = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a journal of poolpipe"
    raise PoolpipeError(
        f"journal {str(path)!r} exists and is {what}: move it away or choose another --out"
    )


def _first_line(path: Path) -> bytes:
    try:
        fd = os.open(path, _READ)
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as fh:
        return fh.readline(len(HEADER) + 1)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _end_torn_line(fd: int) -> None:
    """Start a fresh line if the file's last line was cut off (its row is then ignored)."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        _write_all(fd, b"\n")


def _int(text: str) -> int | None:
    return int(text) if text else None


def _seconds(text: str) -> float | None:
    value = float(text) if text else None
    if value is not None and not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_row(line: str) -> TaskResult:
    """A results.tsv line as the row it was written from (ValueError if it is not one)."""
    cells = [tsv.unescape(cell) for cell in line.rstrip("\n").split("\t")]
    if len(cells) != len(FIELDS) or cells[3] not in ("true", "false"):
        raise ValueError("wrong columns")
    values = dict(zip(FIELDS, cells, strict=True))
    line_no, attempts = int(values["line"]), int(values["attempts"])
    if line_no < 1 or attempts < 0:
        raise ValueError("line or attempts out of range")
    return TaskResult(
        line=line_no,
        op=values["op"],
        path=values["path"],
        ok=values["ok"] == "true",
        bytes=_int(values["bytes"]),
        sha256=values["sha256"],
        error=values["error"],
        attempts=attempts,
        start=_seconds(values["start"]),
        runtime_s=_seconds(values["runtime_s"]),
        worker=_int(values["worker"]),
        task_hash=values["task_hash"],
    )


def read_rows(path: Path, *, torn_ok: bool, follow: bool = True) -> Iterator[TaskResult]:
    """The rows of a results file or journal; one sentence if it is not one. With torn_ok,
    a last line cut off by a kill (no newline) is left out. The file must be a regular file
    (a FIFO is refused, not waited on), each line at most MAX_ROW bytes; without follow, a
    symlink at path is refused."""
    shown = repr(str(path))
    flags = _READ if not follow else _READ & ~os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        why = "is a symlink" if exc.errno == errno.ELOOP else f"cannot be read: {exc.strerror}"
        raise PoolpipeError(f"{shown} {why}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PoolpipeError(f"{shown} is not a regular file")
    try:
        with os.fdopen(fd, "rb") as fh:
            first = fh.readline(len(HEADER) + 1)
            if torn_ok and not first.endswith(b"\n"):
                return
            if first != HEADER.encode():
                raise PoolpipeError(f"{shown} is not a results file of this version of poolpipe")
            number = 1
            while raw := fh.readline(MAX_ROW + 1):
                number += 1
                if torn_ok and not raw.endswith(b"\n"):
                    break
                if raw.strip() == b"" and torn_ok:
                    continue
                try:
                    if len(raw) > MAX_ROW:
                        raise ValueError("too long")
                    yield parse_row(raw.decode("utf-8"))
                except ValueError:
                    raise PoolpipeError(f"{shown} line {number} is not a results row") from None
    except OSError as exc:
        raise PoolpipeError(f"{shown} cannot be read: {exc.strerror}") from None


@dataclass
class Resume:
    """The rows a resumed run starts from, by manifest line, and which of them run again."""

    rows: dict[int, TaskResult] = field(default_factory=dict)
    rerun_failed: bool = False
    sources: dict[int, Path] = field(default_factory=dict)
    """The file each row was read from."""

    def carried(self, line: int, digest: str) -> TaskResult | None:
        """The row kept for a manifest line, or None if the task runs; one sentence if the
        row was recorded for another task."""
        row = self.rows.get(line)
        if row is None:
            return None
        if row.task_hash != digest:
            raise PoolpipeError(
                f"{str(self.sources[line])!r} records another task at manifest line {line}: it "
                "belongs to another manifest or another task root (run without --resume to "
                "start again)"
            )
        return None if (not row.ok and self.rerun_failed) else row

    def last_writes(self, key: Callable[[str], str]) -> dict[str, int]:
        """For each file (by key, its real path) that rows recorded done wrote or copied to,
        the last such manifest line."""
        last: dict[str, int] = {}
        for line, row in self.rows.items():
            if row.ok and row.op in ("write", "copy"):
                with contextlib.suppress(PoolpipeError, OSError):
                    path = key(row.path)
                    last[path] = max(last.get(path, 0), line)
        return last

    def beyond(self, last: int) -> int:
        """How many rows are for lines after the manifest's last one."""
        return sum(line > last for line in self.rows)


def load_resume(results: str | os.PathLike[str], *, rerun_failed: bool) -> Resume:
    """The rows of a previous run's results file, overridden by its journal's newer ones."""
    out, journal = Path(results), journal_path(results)
    resume = Resume(rerun_failed=rerun_failed)
    earlier_journal(journal)
    for path, torn_ok in ((out, False), (journal, True)):
        if os.path.lexists(path):
            for row in read_rows(path, torn_ok=torn_ok, follow=not torn_ok):
                resume.rows[row.line] = row
                resume.sources[row.line] = path
    return resume
