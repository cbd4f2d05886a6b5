"""Partial results of consecutive line ranges, merged in file order: the one merge loop.

A part counts things over its own lines and keeps a few examples (bad lines, skipped rows)
numbered from its own first line. Merged in file order, the counts add up and each example
is renumbered from the first line of the whole, up to a limit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from poolpipe.core.chunks import Range, lines_before
from poolpipe.errors import PoolpipeError

P = TypeVar("P")


def merge_ordered(
    parts: Iterable[P],
    empty: P,
    *,
    counts: Sequence[str],
    examples: str,
    limit: int,
    combine: Callable[[P, P], P] | None = None,
) -> P:
    """Merge parts given in file order into one part of all their lines.

    counts name the fields that add up (one must be `lines`); examples names the tuple of
    records with a `line` field; combine merges what is neither (e.g. a regression summary).
    """
    totals = dict.fromkeys(counts, 0)
    kept: list[Any] = []
    merged = empty
    for part in parts:
        for example in getattr(part, examples):
            if len(kept) < limit:
                kept.append(dataclasses.replace(example, line=example.line + totals["lines"]))
        for name in counts:
            totals[name] += getattr(part, name)
        if combine is not None:
            merged = combine(merged, part)
    return dataclasses.replace(merged, **totals, **{examples: tuple(kept)})  # type: ignore[type-var]


def strict_stop(rng: Range, line: int, problem: str) -> PoolpipeError:
    """What strict mode raises at the first bad line of a range (line counts from 1 at its start):
    the line's number in the whole file, counted only now, as only a failing run needs it."""
    number = lines_before(rng.path, rng.start) + line
    return PoolpipeError(f"{rng.path}, line {number}: {problem} (strict mode stops here)")
