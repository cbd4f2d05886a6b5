"""The article's shared-array recipe with multiprocessing.shared_memory: workers double numbers
in place. Each worker gets the block's name and an index range (an address, not the
numbers), attaches to the block, changes its own slice, and returns nothing but a count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from poolpipe.core.pool import pool_map
from poolpipe.errors import PoolpipeError

LIMIT = 2**62
"""Values must lie in (-LIMIT, LIMIT) so that doubling them stays an exact int64."""


@dataclass(frozen=True, kw_only=True)
class Span:
    """Items [start, end) of the shared array of `size` int64 numbers in block `name`."""

    name: str
    size: int
    start: int
    end: int


def spans(name: str, size: int, pieces: int) -> list[Span]:
    """Cut size items into `pieces` consecutive spans that cover them exactly once."""
    bounds = [size * i // pieces for i in range(pieces + 1)]
    return [Span(name=name, size=size, start=a, end=b) for a, b in itertools.pairwise(bounds)]


def double_span(span: Span) -> int:
    """Double items [start, end) of the shared array in place; return how many."""
    block = SharedMemory(name=span.name)
    try:
        view = np.ndarray((span.size,), dtype=np.int64, buffer=block.buf)
        view[span.start : span.end] *= 2
        del view
    finally:
        block.close()
    return span.end - span.start


def double_shared(values: Sequence[int], processes: int) -> list[int]:
    """Double every value in worker processes that share one memory block with this one."""
    # checked as Python ints: numpy's abs of int64's minimum overflows back to itself
    if any(not -LIMIT < int(v) < LIMIT for v in values):
        raise PoolpipeError("every value must lie strictly between -2**62 and 2**62")
    array = np.asarray(values, dtype=np.int64)
    block = SharedMemory(create=True, size=max(1, array.nbytes))
    try:
        shared = np.ndarray(array.shape, dtype=np.int64, buffer=block.buf)
        shared[:] = array
        pieces = spans(block.name, array.size, max(1, min(array.size, 4 * processes)))
        workers = min(processes, len(pieces))  # 2 values: 2 workers, not --processes
        done = sum(pool_map(double_span, pieces, workers, describe=_describe))
        assert done == array.size
        result = [int(v) for v in shared]
        del shared
    finally:
        block.close()
        block.unlink()
    return result


def _describe(span: Span) -> str:
    return f"items {span.start}-{span.end} of shared block {span.name}"
