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
