"""A task and what it did: the task (one valid manifest line), a worker's outcome, its
results.tsv row, and the counts over a run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from poolpipe.core import tsv


@dataclass(frozen=True, kw_only=True)
class Task:
    """One valid manifest line: what to do, to which path (relative to the root)."""

    line: int
    op: str
    path: str
    content: str | None = None
    src: str | None = None
    digest: str = ""
    """line_hash of its manifest line and the task root as given."""

    def describe(self) -> str:
        """The task in words, for messages."""
        what = f"{self.src!r} to {self.path!r}" if self.op == "copy" else repr(self.path)
        return f"manifest line {self.line} ({self.op} {what})"


FIELDS = (
    "line",
    "op",
    "path",
    "ok",
    "bytes",
    "sha256",
    "error",
    "attempts",
    "start",
    "runtime_s",
    "worker",
    "task_hash",
)
"""The columns of results.tsv: what happened, then how (as `parallel --joblog` shows it)."""

ERROR_CHARS = 300
"""Longest error message a result carries (so every result is one small message)."""


@dataclass(frozen=True, kw_only=True)
class TaskOutcome:
    """What a worker reports for one task."""

    ok: bool
    bytes: int | None = None
    sha256: str = ""
    error: str = ""
    transient: bool = False
    """Whether trying again may help (a timeout, a busy or full disk), not a refusal."""

    @classmethod
    def failed(cls, message: str, *, transient: bool = False) -> TaskOutcome:
        """A task that failed, with the first ERROR_CHARS characters of why."""
        return cls(ok=False, error=message[:ERROR_CHARS], transient=transient)


@dataclass(frozen=True, kw_only=True)
class TaskResult:
    """One row of results.tsv: a task (or a manifest line that is not one) and its outcome."""

    line: int
    op: str
    path: str
    ok: bool
    bytes: int | None = None
    sha256: str = ""
    error: str = ""
    attempts: int = 0
    """How many times a worker ran the task (0: it never reached one)."""
    start: float | None = None
    """When its last attempt started, in seconds since the epoch."""
    runtime_s: float | None = None
    """How long its last attempt took."""
    worker: int | None = None
    """The worker slot (1 to processes) that ran its last attempt."""
    task_hash: str = ""
    """A hash of the manifest line, so that --resume matches a row to its task."""

    @classmethod
    def of(cls, task: Task, outcome: TaskOutcome, **how: Any) -> TaskResult:
        """The row of a task that ran; `how` gives attempts, start, runtime_s and worker."""
        return cls(
            line=task.line,
            op=task.op,
            path=task.path,
            ok=outcome.ok,
            bytes=outcome.bytes,
            sha256=outcome.sha256,
            error=outcome.error,
            task_hash=task.digest,
            **how,
        )

    def cells(self) -> tuple[object, ...]:
        """The values of its results.tsv row, in FIELDS order, every text UTF-8 encodable."""
        op, path, error = (shown(text) for text in (self.op, self.path, self.error[:ERROR_CHARS]))
        start = None if self.start is None else f"{self.start:.3f}"
        runtime = None if self.runtime_s is None else f"{self.runtime_s:.3f}"
        return (
            *(self.line, op, path, self.ok, self.bytes, self.sha256, error),
            *(self.attempts, start, runtime, self.worker, self.task_hash),
        )


def shown(text: str) -> str:
    """Text as results.tsv holds it: a lone surrogate (not UTF-8) as its \\udXXXX escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True, kw_only=True)
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
    return Summary(tasks=tasks, ok=ok, failed=tasks - ok, bytes=size)
