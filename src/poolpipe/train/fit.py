"""Summarise a CSV file's rows chunk by chunk over the pool: one mergeable TrainPart a chunk."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from poolpipe.core.chunks import (
    BLOCK_SIZE,
    Range,
    iter_blocks,
    lines_before,
    merge_ordered,
    pieces_for,
)
from poolpipe.core.pool import pool_map, serial_map
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns
from poolpipe.train.csvparse import MAX_EXAMPLES, BadRow, overlong_row, parse_block, row_capacity
from poolpipe.train.scatter import Scatter


@dataclass(frozen=True, kw_only=True)
class TrainPart:
    """A mergeable summary of consecutive lines; skipped row numbers count from its first line."""

    scatter: Scatter
    lines: int = 0
    blank_lines: int = 0
    skipped_rows: int = 0
    skipped_weights: int = 0
    bytes: int = 0
    examples: tuple[BadRow, ...] = field(default_factory=tuple)

    @property
    def rows(self) -> int:
        """Rows used."""
        return self.scatter.rows

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "rows": self.rows,
            "lines": self.lines,
            "blank_lines": self.blank_lines,
            "skipped_rows": self.skipped_rows,
            "skipped_weights": self.skipped_weights,
            "bytes": self.bytes,
            "skipped_examples": [asdict(ex) for ex in self.examples],
            "mean": self.scatter.mean.tolist(),
            "r": self.scatter.r.tolist(),
            "exponent": self.scatter.exponent.tolist(),
            "weight": self.scatter.weight,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainPart:
        """Inverse of to_json."""
        scatter = Scatter(
            data["rows"],
            np.array(data["mean"]),
            np.array(data["r"]),
            np.array(data["exponent"], dtype=np.int64),
            data.get("weight"),
        )
        return cls(
            scatter=scatter,
            lines=data["lines"],
            blank_lines=data["blank_lines"],
            skipped_rows=data["skipped_rows"],
            skipped_weights=data.get("skipped_weights", 0),
            bytes=data["bytes"],
            examples=tuple(BadRow(**ex) for ex in data["skipped_examples"]),
        )


def merge_parts(parts: Iterable[TrainPart], width: int) -> TrainPart:
    """Merge parts given in file order into one summary of all their lines."""
    return merge_ordered(
        parts,
        TrainPart(scatter=Scatter.empty(width)),
        counts=("lines", "blank_lines", "skipped_rows", "skipped_weights", "bytes"),
        examples="examples",
        limit=MAX_EXAMPLES,
        combine=lambda merged, part: replace(merged, scatter=merged.scatter.merge(part.scatter)),
    )


def fit_rows(values: np.ndarray, columns: Columns) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Parsed rows as [X y] and their weights, less rows whose weight is not above 0 (counted)."""
    if columns.weight is None:
        return values, None, 0
    weights = values[:, -1]
    keep = weights > 0
    if keep.all():
        return values[:, :-1], weights.copy(), 0
    return values[keep, :-1], weights[keep], int(len(keep) - keep.sum())


def good_rows(rng: Range, columns: Columns) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The good rows of one range, block by block, with their weights: for a second pass."""
    out = np.empty((row_capacity(columns, BLOCK_SIZE), columns.width))
    for block in iter_blocks(rng):
        if block.overlong:
            continue
        parsed = parse_block(block.data, columns, out=out, max_examples=0)
        values, weights, _ = fit_rows(parsed.values, columns)
        if len(values):
            yield values, weights


def train_range(
    rng: Range, columns: Columns, *, strict: bool = False, block_size: int = BLOCK_SIZE
) -> TrainPart:
    """Summarise the good rows of one range, streaming it in blocks; strict stops at a bad one."""
    reference = np.asarray(columns.reference, dtype=float)
    out = np.empty((row_capacity(columns, block_size), columns.width))
    scatter = Scatter.empty(columns.fit_width)
    lines = blanks = skipped = weightless = 0
    examples: list[BadRow] = []
    with threadpool_limits(limits=1):
        for block in iter_blocks(rng, block_size):
            if block.overlong:
                found = [overlong_row(1, block.data, block_size)]
                skipped += 1
                nlines = 1
            else:
                parsed = parse_block(
                    block.data, columns, out=out, max_examples=max(0, MAX_EXAMPLES - len(examples))
                )
                found = parsed.examples
                skipped += parsed.bad_rows
                blanks += parsed.blank_lines
                nlines = parsed.lines
                values, weights, dropped = fit_rows(parsed.values, columns)
                weightless += dropped
                if len(values):
                    scatter = scatter.add(values, reference, weights)
            examples += [replace(ex, line=ex.line + lines) for ex in found]
            if strict and examples:
                _fail_strict(rng, examples[0])
            lines += nlines
    return TrainPart(
        scatter=scatter,
        lines=lines,
        blank_lines=blanks,
        skipped_rows=skipped,
        skipped_weights=weightless,
        bytes=rng.size,
        examples=tuple(examples[:MAX_EXAMPLES]),
    )


def _fail_strict(rng: Range, first: BadRow) -> None:
    number = lines_before(rng.path, rng.start) + first.line
    raise PoolpipeError(
        f"{rng.path}, line {number}: {first.reason}: {first.text!r} (strict mode stops here)"
    )


@dataclass(frozen=True)
class _Trainer:
    columns: Columns
    strict: bool

    def __call__(self, task: tuple[int, Range]) -> TrainPart:
        return train_range(task[1], self.columns, strict=self.strict)


def _describe(task: tuple[int, Range]) -> str:
    rng = task[1]
    return rng.label()


def train_chunks(
    ranges: Sequence[Range],
    columns: Columns,
    *,
    processes: int,
    strict: bool = False,
    serial: bool = False,
) -> list[TrainPart]:
    """One part per range, its pieces run by a pool of `processes` workers (or here if serial)."""
    tasks = [(i, piece) for i, rng in enumerate(ranges) for piece in pieces_for(rng, processes)]
    trainer = _Trainer(columns, strict)
    if serial:
        results = serial_map(trainer, tasks)
    else:
        results = pool_map(trainer, tasks, processes, describe=_describe)
    grouped: list[list[TrainPart]] = [[] for _ in ranges]
    for (i, _), part in zip(tasks, results, strict=True):
        grouped[i].append(part)
    return [merge_parts(group, columns.fit_width) for group in grouped]
