"""pool_map's initializer: runs once in each worker, before its tasks, with shared memory."""

from __future__ import annotations

import multiprocessing as mp
import os

from poolpipe.core.pool import pool_map

_seen: dict[str, int] = {}


def _init(counter, tag: int) -> None:
    with counter.get_lock():
        counter.value += 1
        _seen["index"] = counter.value
    _seen["tag"] = tag


def _report(_task: int) -> tuple[int, int, int]:
    return os.getpid(), _seen["index"], _seen["tag"]


def test_the_initializer_runs_once_in_each_worker():
    counter = mp.get_context("fork").Value("i", 0)
    results = list(
        pool_map(_report, range(40), processes=3, initializer=_init, initargs=(counter, 7))
    )
    assert {tag for _, _, tag in results} == {7}
    by_pid = {pid: index for pid, index, _ in results}
    assert len(set(by_pid.values())) == len(by_pid) <= 3
    assert set(by_pid.values()) <= {1, 2, 3}
    assert counter.value == 3


def _frozen(_task: int) -> tuple[int, bool]:
    import gc

    return gc.get_freeze_count(), id(_seen) in {id(o) for o in gc.get_objects()}


def test_a_worker_leaves_what_it_inherits_to_no_garbage_collection():
    """The parent's objects are frozen in each worker: a full collection does not walk them
    (nor copy the pages they are on)."""
    frozen, walked = zip(*pool_map(_frozen, range(4), processes=2), strict=True)
    assert min(frozen) > 1000
    assert not any(walked)


def _square(task: int) -> int:
    return task * task


def test_a_stage_without_linear_algebra_leaves_blas_alone(monkeypatch):
    """blas=False skips holding BLAS to one thread at each worker's start (the crawl's pool);
    by default every worker does it."""
    from poolpipe.core import pool

    calls = mp.get_context("fork").Value("i", 0)

    def one_blas_thread() -> None:
        with calls.get_lock():
            calls.value += 1

    monkeypatch.setattr(pool, "_one_blas_thread", one_blas_thread)
    assert list(pool_map(_square, range(6), processes=2, blas=False)) == [0, 1, 4, 9, 16, 25]
    assert calls.value == 0
    assert list(pool_map(_square, range(6), processes=2)) == [0, 1, 4, 9, 16, 25]
    assert calls.value == 2
