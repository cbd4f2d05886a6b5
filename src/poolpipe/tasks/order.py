"""Which tasks may run at once: two that touch the same file, one writing it, never do."""

from __future__ import annotations

from dataclasses import dataclass

from poolpipe.tasks.results import TaskResult
from poolpipe.tasks.root import Root
from poolpipe.tasks.task import Task


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
