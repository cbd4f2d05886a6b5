"""Process isolation, as the article's first example claims it, and shared memory where it is
meant: a child's changes never reach its parent or a sibling; a crash is reported, naming
the chunk; only a shared_memory block is seen by all of them."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import pytest

from poolpipe.bench.sharedarray import LIMIT, Span, double_shared, spans
from poolpipe.core.chunks import split_file
from poolpipe.core.pool import WorkerDied, pool_map
from poolpipe.errors import PoolpipeError
from poolpipe.sum import numbers as sumfile

CTX = mp.get_context("fork")

DATA = {"value": 10, "items": [1, 2, 3]}
ARRAY = np.arange(8, dtype=np.int64)


def _change_and_report(conn: Connection) -> None:
    """The article's process1, which changes its own data and says what it now sees."""
    DATA["value"] = 99
    DATA["items"].append(4)
    ARRAY[:] = -1
    conn.send((DATA["value"], list(DATA["items"]), ARRAY.tolist()))
    conn.close()


def _report(conn: Connection) -> None:
    """The article's process2, which only looks."""
    conn.send((DATA["value"], list(DATA["items"]), ARRAY.tolist()))
    conn.close()


def _run(target, *args) -> tuple:
    ours, theirs = CTX.Pipe()
    proc = CTX.Process(target=target, args=(theirs, *args))
    proc.start()
    theirs.close()
    try:
        assert ours.poll(30), "the child sent nothing"
        return ours.recv()
    finally:
        proc.join(timeout=30)
        assert proc.exitcode == 0


def test_a_childs_changes_reach_neither_its_parent_nor_a_sibling() -> None:
    changed = _run(_change_and_report)
    assert changed == (99, [1, 2, 3, 4], [-1] * 8)  # the child did change its own copy
    assert DATA == {"value": 10, "items": [1, 2, 3]}
    assert ARRAY.tolist() == list(range(8))
    sibling = _run(_report)  # started after the first child changed everything
    assert sibling == (10, [1, 2, 3], list(range(8)))


_SEEN: list[int] = []


def _remember(task: int) -> tuple[int, list[int]]:
    """Append to this worker's own list; report the worker and everything it has seen."""
    time.sleep(0.01)  # long enough that both workers get tasks
    _SEEN.append(task)
    return os.getpid(), list(_SEEN)


def test_pool_workers_keep_their_own_state_apart() -> None:
    """Each worker's list holds only the tasks that worker ran: no sibling's task shows up."""
    results = list(pool_map(_remember, range(40), 2, in_flight=8))
    by_worker: dict[int, list[int]] = {}
    for task, (pid, seen) in enumerate(results):
        by_worker.setdefault(pid, []).append(task)
        assert seen[-1] == task
    for pid, seen in results:
        assert set(seen) <= set(by_worker[pid]), f"worker {pid} saw a sibling's task"
    assert len(by_worker) == 2  # both workers ran tasks, so each had a sibling
    assert _SEEN == []


def _double_copy(array: np.ndarray) -> int:
    array *= 2  # the worker's own (pickled) copy
    return int(array.sum())


def test_an_array_sent_to_a_worker_is_a_copy_but_a_shared_block_is_shared() -> None:
    array = np.arange(10, dtype=np.int64)
    (total,) = pool_map(_double_copy, [array], 1)
    assert total == 2 * 45
    assert array.tolist() == list(range(10))  # the parent's array did not change
    assert double_shared(list(range(10)), 2) == [2 * v for v in range(10)]


# --- shared memory --------------------------------------------------------------------------


def test_the_recipes_shared_array_is_doubled() -> None:
    assert double_shared([1, 2, 3, 4, 5], 2) == [2, 4, 6, 8, 10]


@pytest.mark.parametrize("processes", [1, 3])
def test_every_value_is_doubled_exactly_once(processes: int) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(-(LIMIT - 1), LIMIT, size=10_001).tolist()
    assert double_shared(values, processes) == [2 * v for v in values]
    assert double_shared([], processes) == []


def test_spans_cover_the_array_exactly_once() -> None:
    for size in range(0, 40):
        for pieces in range(1, 9):
            got = spans("x", size, pieces)
            assert len(got) == pieces
            assert [i for s in got for i in range(s.start, s.end)] == list(range(size))


def test_values_that_would_overflow_are_refused() -> None:
    with pytest.raises(PoolpipeError, match="strictly between"):
        double_shared([LIMIT], 2)
    with pytest.raises(PoolpipeError, match="strictly between"):
        double_shared([2**64], 2)


def _crash(span: Span) -> int:
    os._exit(7)


def _leftover_blocks() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("psm_")}


def test_no_shared_block_is_left_behind_even_when_a_worker_dies(monkeypatch) -> None:
    before = _leftover_blocks()
    double_shared(list(range(100)), 2)
    assert _leftover_blocks() == before

    monkeypatch.setattr("poolpipe.bench.sharedarray.double_span", _crash)
    with pytest.raises(WorkerDied, match=r"died with exit code 7 while running items \d+-\d+ of"):
        double_shared(list(range(100)), 2)
    assert _leftover_blocks() == before


def test_a_worker_attaches_by_name_and_changes_the_parents_memory() -> None:
    block = SharedMemory(create=True, size=8 * 4)
    try:
        view = np.ndarray((4,), dtype=np.int64, buffer=block.buf)
        view[:] = [5, 6, 7, 8]
        list(pool_map(_double_through_the_pool, [Span(name=block.name, size=4, start=1, end=3)], 1))
        assert view.tolist() == [5, 12, 14, 8]
        del view
    finally:
        block.close()
        block.unlink()


def _double_through_the_pool(span: Span) -> int:
    from poolpipe.bench.sharedarray import double_span

    return double_span(span)


def test_the_double_command_prints_json() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "poolpipe.cli", "double", "1", "2", "3", "4", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [2, 4, 6, 8, 10]
    assert run.stderr == ""


# --- a crash in a stage's chunk names the chunk ---------------------------------------------


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"{i}\n" for i in range(20_000)))
    return path


@pytest.mark.parametrize(("how", "words"), [("exit", "exit code 3"), ("kill", "signal SIGKILL")])
def test_a_sum_worker_that_dies_names_its_byte_range(
    numbers: Path, monkeypatch, how: str, words: str
) -> None:
    """The sum stage's own pool job: the worker summing the second piece dies abruptly.

    The doomed piece runs longest, so the caller is waiting for it when it dies (a death
    while the caller is between two results is the pool runner's own test's business)."""
    monkeypatch.setattr(sumfile, "MIN_PIECE", 0)  # pieces of any size: this small file pools
    ranges = split_file(numbers, 1)
    doomed = sumfile.pieces_for(ranges[0], 2)[1]
    real = sumfile.sum_range

    def dies_on_the_doomed_piece(rng, strict=False, block_size=sumfile.BLOCK_SIZE):
        if rng == doomed:
            time.sleep(0.3)  # the caller is waiting for this piece when it dies
            if how == "exit":
                os._exit(3)
            os.kill(os.getpid(), signal.SIGKILL)
        return real(rng, strict, block_size)

    monkeypatch.setattr(sumfile, "sum_range", dies_on_the_doomed_piece)
    with pytest.raises(WorkerDied) as info:
        sumfile.sum_ranges(ranges, 2)
    message = str(info.value)
    if words not in message:  # the pool runner's known race on exit statuses (core/test_pool)
        assert "died abruptly while running" in message
    assert f"bytes {doomed.start}-{doomed.end} of {numbers}" in message


def test_an_exception_in_a_sum_worker_is_the_jobs_error(numbers: Path, monkeypatch) -> None:
    monkeypatch.setattr(sumfile, "MIN_PIECE", 0)  # pieces of any size: this small file pools
    numbers.write_text("1\n2\nthree\n4\n")
    with pytest.raises(PoolpipeError, match=r"line 3: 'three' is not an integer"):
        sumfile.sum_ranges(split_file(numbers, 1), 2, strict=True)
