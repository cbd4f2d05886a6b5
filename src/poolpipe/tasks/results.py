"""What a task did: a worker's outcome, its results.tsv row, and the counts over a run."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from poolpipe.core import tsv

if TYPE_CHECKING:
    from poolpipe.tasks.manifest import Task

FIELDS = ("line", "op", "path", "ok", "bytes", "sha256", "error")

ERROR_CHARS = 300
"""Longest error message a result carries (so every result is one small message)."""


@dataclass(frozen=True, kw_only=True)
class TaskOutcome:
    """What a worker reports for one task."""

    ok: bool
    bytes: int | None = None
    sha256: str = ""
    error: str = ""

    @classmethod
    def failed(cls, message: str) -> TaskOutcome:
        """A task that failed, with the first ERROR_CHARS characters of why."""
        return cls(ok=False, error=message[:ERROR_CHARS])


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

    @classmethod
    def of(cls, task: Task, outcome: TaskOutcome) -> TaskResult:
        """The row of a task that ran."""
        return cls(
            line=task.line,
            op=task.op,
            path=task.path,
            ok=outcome.ok,
            bytes=outcome.bytes,
            sha256=outcome.sha256,
            error=outcome.error,
        )

    def cells(self) -> tuple[object, ...]:
        """The values of its results.tsv row, in FIELDS order, every text UTF-8 encodable."""
        op, path, error = (shown(text) for text in (self.op, self.path, self.error[:ERROR_CHARS]))
        return (self.line, op, path, self.ok, self.bytes, self.sha256, error)


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
