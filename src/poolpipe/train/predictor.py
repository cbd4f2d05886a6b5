"""One piece of a data file predicted: a CSV row for every non-blank line, and the scores.

A block of lines goes through the fast parser; a block with a bad or blank line
is read again line by line by the reference rule, so every line gets its own
row: `line,prediction,` or `line,,why`. Where the file has the model's target,
the piece keeps the squared errors' sum and the target's mean and squared
deviations, which merge exactly across pieces (Chan et al.).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from poolpipe.core.chunks import BLOCK_SIZE, Range, iter_blocks
from poolpipe.train.columns import Columns
from poolpipe.train.csvparse import (
    MAX_EXAMPLES,
    BadRow,
    overlong_row,
    parse_block,
    parse_line,
    row_capacity,
)
from poolpipe.train.saved import SavedModel


@dataclass(frozen=True, kw_only=True)
class PredictPart:
    """One piece's output rows and counts; sse and the target's moments for the scores."""

    text: bytes = b""
    rows: int = 0
    bad_rows: int = 0
    blank_lines: int = 0
    examples: tuple[BadRow, ...] = field(default_factory=tuple)
    scored: int = 0
    sse: float = 0.0
    mean: float = 0.0
    m2: float = 0.0


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def combine(a: PredictPart, b: PredictPart) -> PredictPart:
    """Scores of both parts (Chan's merge of the target's mean and squared deviations)."""
    n = a.scored + b.scored
    if not n:
        return a
    delta = b.mean - a.mean
    return PredictPart(
        rows=a.rows,
        bad_rows=a.bad_rows,
        blank_lines=a.blank_lines,
        examples=a.examples,
        scored=n,
        sse=a.sse + b.sse,
        mean=a.mean + delta * b.scored / n,
        m2=a.m2 + b.m2 + delta * delta * a.scored * b.scored / n,
    )


@dataclass(frozen=True)
class Predictor:
    """A pool task: predict one piece of the data, whose first line has the given number."""

    columns: Columns
    model: SavedModel

    def __call__(self, task: tuple[Range, int]) -> PredictPart:
        rng, line = task
        cols, p = self.columns, len(self.model.features)
        out = np.empty((row_capacity(cols, BLOCK_SIZE), cols.width))
        chunks: list[str] = []
        bad: list[BadRow] = []
        scores = PredictPart()
        blanks = 0
        with threadpool_limits(limits=1):
            for block in iter_blocks(rng):
                if block.overlong:
                    bad.append(overlong_row(line, block.data))
                    chunks.append(f"{line},,{_quoted(bad[-1].reason)}\n")
                    line += 1
                    continue
                parsed = parse_block(block.data, cols, out=out, max_examples=0)
                if parsed.bad_rows or parsed.blank_lines:
                    numbers, values, found, nblank = _line_by_line(block.data, cols, line)
                    blanks += nblank
                else:
                    numbers, values, found = np.arange(line, line + parsed.lines), parsed.values, []
                pred = self.model.predict(values[:, :p])
                ok = np.isfinite(pred)
                found += [
                    BadRow(n, "", "the prediction is not finite") for n in numbers[~ok].tolist()
                ]
                entries = [
                    (n, f"{n},{v!r},")
                    for n, v in zip(numbers[ok].tolist(), pred[ok].tolist(), strict=True)
                ]
                if found:
                    entries += [(b.line, f"{b.line},,{_quoted(b.reason)}") for b in found]
                    entries.sort()
                    bad += sorted(found, key=lambda b: b.line)
                if entries:
                    chunks.append("\n".join(text for _, text in entries) + "\n")
                if cols.target is not None and ok.any():
                    scores = combine(scores, _scores(values[ok, p], pred[ok]))
                line += parsed.lines
        text = "".join(chunks).encode()
        return PredictPart(
            text=text,
            rows=text.count(b"\n") - len(bad),
            bad_rows=len(bad),
            blank_lines=blanks,
            examples=tuple(bad[:MAX_EXAMPLES]),
            scored=scores.scored,
            sse=scores.sse,
            mean=scores.mean,
            m2=scores.m2,
        )


def _scores(y: np.ndarray, pred: np.ndarray) -> PredictPart:
    mean = float(y.mean())
    return PredictPart(
        scored=len(y),
        sse=float(((y - pred) ** 2).sum()),
        mean=mean,
        m2=float(((y - mean) ** 2).sum()),
    )


def _line_by_line(
    data: memoryview, columns: Columns, first: int
) -> tuple[np.ndarray, np.ndarray, list[BadRow], int]:
    """The reference rule line by line, for a block with a bad or blank line."""
    lines = bytes(data).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    numbers, values, bad, blanks = [], [], [], 0
    for i, raw in enumerate(lines):
        result = parse_line(raw, columns)
        if result is None:
            blanks += 1
        elif isinstance(result, str):
            text = raw.rstrip(b"\r").decode("utf-8", errors="backslashreplace")[:80]
            bad.append(BadRow(first + i, text, result))
        else:
            numbers.append(first + i)
            values.append(result)
    shaped = np.array(values, dtype=float).reshape(len(values), columns.width)
    return np.array(numbers, dtype=np.int64), shaped, bad, blanks
