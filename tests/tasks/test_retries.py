"""--timeout and --retries: a task over its time is killed with its worker, which is replaced;
a task that failed for a transient reason runs again after a growing wait; a refusal never."""

from __future__ import annotations

import errno
import itertools
import json
import os
import random
import time
from pathlib import Path

import psutil
import pytest

from poolpipe.core.timing import Backoff
from poolpipe.errors import PoolpipeError
from poolpipe.tasks import TaskPolicy
from poolpipe.tasks import ops as task_ops
from poolpipe.tasks.results import TaskOutcome
from poolpipe.tasks.run import run_tasks

HANG_S = 3600.0


@pytest.fixture
def staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ops misbehave by path: 'hang-N' hangs its first N runs, 'flaky-N' fails its first
    N runs with EAGAIN, 'broken' always fails with EIO; each run is logged in tmp_path/log."""
    log = tmp_path / "log"
    log.mkdir()
    real = task_ops.run_task

    def staged_run(root, task, **kw):
        mark = log / task.path.replace("/", "_")
        with mark.open("a") as fh:
            fh.write(f"{time.monotonic()} {os.getpid()}\n")
        runs = len(mark.read_text().splitlines())
        name = Path(task.path).name
        kind, _, count = name.partition("-")
        if kind == "hang" and runs <= int(count.split(".")[0]):
            time.sleep(HANG_S)
        if kind == "flaky" and runs <= int(count.split(".")[0]):
            return TaskOutcome.failed(os.strerror(errno.EAGAIN), transient=True)
        if kind == "broken.txt":
            return TaskOutcome.failed(os.strerror(errno.EIO), transient=True)
        return real(root, task, **kw)

    monkeypatch.setattr(task_ops, "run_task", staged_run)
    (tmp_path / "root").mkdir()
    return tmp_path


def _runs(base: Path, path: str) -> list[tuple[float, int]]:
    mark = base / "log" / path.replace("/", "_")
    return [(float(t), int(p)) for t, p in (line.split() for line in mark.read_text().splitlines())]


def _go(base: Path, tasks: list[dict], policy: TaskPolicy, processes: int = 2):
    manifest = base / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return list(run_tasks(manifest, base / "root", processes, policy=policy))


def _writes(*names: str) -> list[dict]:
    return [{"op": "write", "path": name, "content": f"{name}\n"} for name in names]


def test_a_task_over_its_timeout_is_an_error_row_and_its_worker_is_replaced(staged: Path) -> None:
    rows = _go(staged, _writes("a.txt", "hang-9.txt", "b.txt", "c.txt"), TaskPolicy(timeout_s=2.5))
    assert [(r.path, r.ok, r.attempts) for r in rows] == [
        ("a.txt", True, 1),
        ("hang-9.txt", False, 1),
        ("b.txt", True, 1),
        ("c.txt", True, 1),
    ]
    assert rows[1].error == "the task ran over its timeout of 2.5 s and was stopped"
    assert rows[1].runtime_s is not None and rows[1].runtime_s >= 2.5
    assert not (staged / "root" / "hang-9.txt").exists()
    assert not list((staged / "root").glob(".*.tmp"))
    ((_, hung_pid),) = _runs(staged, "hang-9.txt")
    assert not psutil.pid_exists(hung_pid) or psutil.Process(hung_pid).status() == "zombie"
    assert {r.worker for r in rows} <= {1, 2}


def test_a_timed_out_task_is_retried_and_can_then_succeed(staged: Path) -> None:
    policy = TaskPolicy(timeout_s=2.5, retries=2, backoff_s=0.01)
    rows = _go(staged, _writes("hang-1.txt", "after.txt"), policy, processes=1)
    assert [(r.path, r.ok, r.attempts, r.error) for r in rows] == [
        ("hang-1.txt", True, 2, ""),
        ("after.txt", True, 1, ""),
    ]
    first, second = _runs(staged, "hang-1.txt")
    assert first[1] != second[1]  # the hung worker was killed; a fresh one ran it again
    assert (staged / "root" / "hang-1.txt").read_text() == "hang-1.txt\n"


def test_transient_failures_are_retried_after_growing_waits(staged: Path) -> None:
    policy = TaskPolicy(retries=3, backoff_s=0.2, backoff_max_s=30)
    rows = _go(staged, _writes("flaky-3.txt", "flaky-9.txt", "fine.txt"), policy)
    assert [(r.path, r.ok, r.attempts) for r in rows] == [
        ("flaky-3.txt", True, 4),
        ("flaky-9.txt", False, 4),
        ("fine.txt", True, 1),
    ]
    assert rows[1].error == os.strerror(errno.EAGAIN)
    times = [t for t, _ in _runs(staged, "flaky-3.txt")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    ceilings = [policy.backoff().ceiling(n) for n in (1, 2, 3)]
    assert all(gap >= ceiling * 0.5 for gap, ceiling in zip(gaps, ceilings, strict=True)), gaps


def test_refusals_and_lasting_errors_are_not_retried(staged: Path) -> None:
    policy = TaskPolicy(retries=5, backoff_s=0.01)
    tasks = [
        {"op": "read", "path": "../outside.txt"},
        {"op": "read", "path": "missing.txt"},
        {"op": "write", "path": "dir", "content": "x"},
        {"op": "write", "path": "dir/x", "content": "x"},
        *_writes("broken.txt"),
    ]
    (staged / "root" / "dir").mkdir()
    rows = _go(staged, tasks, policy)
    assert [(r.ok, r.attempts) for r in rows] == [
        (False, 0),
        (False, 1),
        (False, 1),
        (True, 1),
        (False, 6),
    ]
    assert "refused" in rows[0].error and "does not exist" in rows[1].error


def test_the_backoff_doubles_up_to_its_cap_and_jitter_only_shortens_it() -> None:
    plain = Backoff(base_s=0.5, max_s=3.0)
    assert [plain.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert plain.ceiling(5000) == 3.0
    jittered = Backoff(base_s=0.5, max_s=3.0, jitter=0.5)
    rng = random.Random(1)
    waits = [jittered.delay(2, rng) for _ in range(200)]
    assert all(0.5 <= w <= 1.0 for w in waits) and len(set(waits)) > 100
    with pytest.raises(ValueError):
        plain.delay(0)
    with pytest.raises(ValueError):
        Backoff(base_s=float("nan"), max_s=1.0)


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [
        ("timeout_s", 0, "tasks setting timeout_s must be more than 0, not 0"),
        ("timeout_s", float("nan"), "tasks setting timeout_s must be a number"),
        ("retries", -1, "tasks setting retries must be at least 0, not -1"),
        ("retries", 101, "tasks setting retries must be at most 100, not 101"),
        ("backoff_s", float("inf"), "tasks setting backoff_s must be at most 3600, not inf"),
        ("backoff_max_s", "5", "tasks setting backoff_max_s must be a number, not '5'"),
    ],
)
def test_a_policy_outside_the_schema_is_one_sentence(setting: str, value, error: str) -> None:
    with pytest.raises(PoolpipeError) as caught:
        TaskPolicy(**{setting: value})
    assert str(caught.value).startswith(error)
