"""Linear regression over chunks of a CSV file: an exact merge beside the seed's averaging.

Every worker streams its own byte range, parses it block by block and keeps a
Scatter: the row count, the column means and the R factor of a QR of the
centered rows of [X y], all shifted by one reference row common to the file.
Scatters merge exactly (a QR of the stacked factors plus one row for the
difference of the means), so the merged fit is the fit on all rows: the same
least-squares solve scikit-learn does, at scikit-learn's cutoff, on a k x k
triangle instead of the n x k data. The seed recipe's fit per chunk, averaged,
is kept beside it (plain and weighted by rows) with its error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy.linalg.lapack import dgeqrf
from threadpoolctl import threadpool_limits

from poolpipe.core.chunks import (
    BLOCK_SIZE,
    Range,
    header_end,
    iter_blocks,
    lines_before,
    pieces_for,
    split_file,
)
from poolpipe.core.parts import merge_ordered
from poolpipe.core.pool import pool_map, serial_map
from poolpipe.errors import PoolpipeError
from poolpipe.train.csvparse import (
    MAX_EXAMPLES,
    BadRow,
    Columns,
    choose_columns,
    overlong_row,
    parse_block,
    row_capacity,
)

TOL = 1e-6
"""scikit-learn LinearRegression's default `tol`: the cutoff it gives scipy's lstsq, relative to
the largest singular value, below which a direction counts as rank deficient."""

HEADER_LINES = 1
FULL_FIT_COPIES = 4.0
"""Peak memory of scikit-learn's full fit, in copies of the parsed [X y] array."""


QR_ROWS = 4096
"""Rows folded in per QR: small enough for the factorisation to stay in the CPU's cache."""


@dataclass(frozen=True)
class Scatter:
    """A mergeable summary of rows of [X y]: count, column means, R of the centered rows."""

    rows: int
    mean: np.ndarray
    r: np.ndarray

    @classmethod
    def empty(cls, width: int) -> Scatter:
        """The summary of no rows."""
        return cls(0, np.zeros(width), np.zeros((width, width)))

    @classmethod
    def of(cls, values: np.ndarray) -> Scatter:
        """The summary of the rows of a 2-D array."""
        return cls.empty(values.shape[1]).add(values)

    def add(self, values: np.ndarray) -> Scatter:
        """This summary with the rows of a 2-D array added, QR_ROWS rows per factorisation."""
        scatter = self
        for start in range(0, len(values), QR_ROWS):
            scatter = scatter._add(values[start : start + QR_ROWS])
        return scatter

    def _add(self, block: np.ndarray) -> Scatter:
        """One QR of [R; block - its mean; the link row]: the merge of self and the block."""
        m, width = block.shape
        n = self.rows + m
        block_mean = block.mean(axis=0)
        delta = block_mean - self.mean
        stacked = np.empty((width + m + 1, width), order="F")
        stacked[:width] = self.r
        np.subtract(block, block_mean, out=stacked[width : width + m])
        stacked[-1] = delta * math.sqrt(self.rows * m / n)
        return Scatter(n, self.mean + delta * (m / n), _r_factor(stacked))

    def merge(self, other: Scatter) -> Scatter:
        """The summary of both sets of rows: exact, whatever their sizes."""
        if other.rows == 0:
            return self
        if self.rows == 0:
            return other
        n = self.rows + other.rows
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.rows / n)
        link = delta * math.sqrt(self.rows * other.rows / n)
        stacked = np.asfortranarray(np.vstack([self.r, other.r, link]))
        return Scatter(n, mean, _r_factor(stacked))


def _r_factor(a: np.ndarray) -> np.ndarray:
    """The R of a Householder QR of a Fortran-ordered array (overwritten), as a square."""
    qr, _, _, info = dgeqrf(a, overwrite_a=1)
    if info != 0:
        raise RuntimeError(f"LAPACK dgeqrf failed with info={info}")
    width = a.shape[1]
    r = np.zeros((width, width))
    top = min(width, qr.shape[0])
    r[:top] = np.triu(qr[:top])
    return r


@dataclass(frozen=True)
class Fit:
    """Coefficients and intercept of a linear model (rank: of the centered features, if known)."""

    coef: tuple[float, ...]
    intercept: float
    rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data: dict[str, Any] = {"coef": list(self.coef), "intercept": self.intercept}
        if self.rank is not None:
            data["rank"] = self.rank
        return data


def solve(scatter: Scatter, reference: Sequence[float]) -> Fit:
    """The least-squares fit of the summarised rows: scikit-learn's solve, on R instead of X."""
    p = scatter.r.shape[0] - 1
    coef, _, rank, _ = np.linalg.lstsq(scatter.r[:p, :p], scatter.r[:p, p], rcond=TOL)
    means = np.asarray(reference, dtype=float) + scatter.mean
    intercept = means[p] - means[:p] @ coef
    return Fit(tuple(float(c) for c in coef), float(intercept), int(rank))


def average(fits: Sequence[Fit], weights: Sequence[float] | None = None) -> Fit:
    """The (weighted) mean of fits, coefficient by coefficient: the seed recipe's merge."""
    coefs = np.array([f.coef for f in fits])
    intercepts = np.array([f.intercept for f in fits])
    coef = np.average(coefs, axis=0, weights=weights)
    intercept = np.average(intercepts, weights=weights)
    return Fit(tuple(float(c) for c in coef), float(intercept))


@dataclass(frozen=True)
class TrainPart:
    """A mergeable summary of consecutive lines; skipped row numbers count from its first line."""

    scatter: Scatter
    lines: int = 0
    blank_lines: int = 0
    skipped_rows: int = 0
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
            "bytes": self.bytes,
            "skipped_examples": [asdict(ex) for ex in self.examples],
            "mean": self.scatter.mean.tolist(),
            "r": self.scatter.r.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainPart:
        """Inverse of to_json."""
        scatter = Scatter(data["rows"], np.array(data["mean"]), np.array(data["r"]))
        return cls(
            scatter,
            data["lines"],
            data["blank_lines"],
            data["skipped_rows"],
            data["bytes"],
            tuple(BadRow(**ex) for ex in data["skipped_examples"]),
        )


def merge_parts(parts: Iterable[TrainPart], width: int) -> TrainPart:
    """Merge parts given in file order into one summary of all their lines."""
    return merge_ordered(
        parts,
        TrainPart(Scatter.empty(width)),
        counts=("lines", "blank_lines", "skipped_rows", "bytes"),
        examples="examples",
        limit=MAX_EXAMPLES,
        combine=lambda merged, part: replace(merged, scatter=merged.scatter.merge(part.scatter)),
    )


def train_range(
    rng: Range, columns: Columns, strict: bool = False, block_size: int = BLOCK_SIZE
) -> TrainPart:
    """Summarise the good rows of one range, streaming it in blocks; strict stops at a bad one."""
    reference = np.asarray(columns.reference, dtype=float)
    out = np.empty((row_capacity(columns, block_size), columns.width))
    scatter = Scatter.empty(columns.width)
    lines = blanks = skipped = 0
    examples: list[BadRow] = []
    with threadpool_limits(limits=1):
        for block in iter_blocks(rng, block_size):
            if block.overlong:
                found = [overlong_row(1, block.data, block_size)]
                skipped += 1
                nlines = 1
            else:
                parsed = parse_block(block.data, columns, out, max(0, MAX_EXAMPLES - len(examples)))
                found = parsed.examples
                skipped += parsed.bad_rows
                blanks += parsed.blank_lines
                nlines = parsed.lines
                if len(parsed.values):
                    values = parsed.values
                    values -= reference
                    scatter = scatter.add(values)
            examples += [replace(ex, line=ex.line + lines) for ex in found]
            if strict and examples:
                _fail_strict(rng, examples[0])
            lines += nlines
    return TrainPart(scatter, lines, blanks, skipped, rng.size, tuple(examples[:MAX_EXAMPLES]))


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
        return train_range(task[1], self.columns, self.strict)


def _describe(task: tuple[int, Range]) -> str:
    rng = task[1]
    return f"bytes {rng.start}-{rng.end} of {rng.path}"


def train_chunks(
    ranges: Sequence[Range],
    columns: Columns,
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
    return [merge_parts(group, columns.width) for group in grouped]


def read_rows(columns: Columns, rows: int) -> np.ndarray:
    """Every good row of the file in one array (features, then target): for the full fit."""
    data = np.empty((rows, columns.width))
    filled = 0
    rng = Range(columns.path, header_end(columns.path), os.path.getsize(columns.path))
    for block in iter_blocks(rng):
        if block.overlong:
            continue
        values = parse_block(block.data, columns, max_examples=0).values
        if filled + len(values) > rows:
            raise PoolpipeError(f"{columns.path} changed while it was being read")
        data[filled : filled + len(values)] = values
        filled += len(values)
    if filled != rows:
        raise PoolpipeError(f"{columns.path} changed while it was being read")
    return data


def full_fit(columns: Columns, rows: int) -> Fit:
    """scikit-learn's LinearRegression on all good rows at once (one BLAS thread)."""
    from sklearn.linear_model import LinearRegression

    data = read_rows(columns, rows)
    p = columns.width - 1
    with threadpool_limits(limits=1):
        model = LinearRegression().fit(data[:, :p], data[:, p])
    return Fit(tuple(float(c) for c in model.coef_), float(model.intercept_), int(model.rank_))


def full_fit_mb(rows: int, width: int) -> float:
    """MiB the full fit is expected to need at its peak."""
    return rows * width * 8 * FULL_FIT_COPIES / 2**20


def _difference(fit: Fit, full: Fit) -> dict[str, float]:
    coef = float(np.max(np.abs(np.subtract(fit.coef, full.coef)))) if fit.coef else 0.0
    return {"coef": coef, "intercept": abs(fit.intercept - full.intercept)}


def _check_rows(total: TrainPart, columns: Columns) -> None:
    p = len(columns.features)
    if total.rows == 0:
        why = ""
        if total.examples:
            first = total.examples[0]
            why = f"; the first, line {first.line + HEADER_LINES}: {first.reason}"
        raise PoolpipeError(
            f"{columns.path} has no usable rows ({total.skipped_rows} skipped{why})"
        )
    if total.rows < p:
        raise PoolpipeError(
            f"{columns.path} has only {total.rows} usable rows, fewer than its {p} features"
        )


def model_json(
    parts: Sequence[TrainPart],
    columns: Columns,
    strict: bool = False,
    compare_full_fit: bool = False,
    full_fit_max_mb: float = 1024,
) -> dict[str, Any]:
    """The model.json document: exact fit, averaged fits, counts, and the full fit's differences."""
    total = merge_parts(parts, columns.width)
    _check_rows(total, columns)
    exact = solve(total.scatter, columns.reference)
    chunk_fits = [solve(p.scatter, columns.reference) if p.rows else None for p in parts]
    fitted = [(fit, part.rows) for fit, part in zip(chunk_fits, parts, strict=True) if fit]
    methods = {
        "exact": exact,
        "average": average([fit for fit, _ in fitted]),
        "weighted_average": average([fit for fit, _ in fitted], [n for _, n in fitted]),
    }
    doc: dict[str, Any] = {
        "input": columns.path,
        "target": columns.target_name,
        "features": columns.feature_names,
        "ignored_columns": columns.ignored,
        "rows": total.rows,
        "skipped_rows": {
            "count": total.skipped_rows,
            "examples": [{**asdict(ex), "line": ex.line + HEADER_LINES} for ex in total.examples],
        },
        "blank_lines": total.blank_lines,
        "lines": total.lines + HEADER_LINES,
        "bytes": total.bytes,
        "chunks": len(parts),
        "chunks_averaged": len(fitted),
        "strict": strict,
        **{name: fit.to_json() for name, fit in methods.items()},
        "chunk_fits": [
            {"chunk": i, "rows": part.rows, **(fit.to_json() if fit else {})}
            for i, (fit, part) in enumerate(zip(chunk_fits, parts, strict=True))
        ],
    }
    if compare_full_fit:
        need = full_fit_mb(total.rows, columns.width)
        if need <= full_fit_max_mb:
            full = full_fit(columns, total.rows)
            doc["full_fit"] = full.to_json()
            doc["max_abs_diff_from_full_fit"] = {
                name: _difference(fit, full) for name, fit in methods.items()
            }
        else:
            doc["full_fit"] = None
            doc["full_fit_skipped"] = (
                f"needs about {need:.0f} MiB, more than full_fit_max_mb = {full_fit_max_mb:g}"
            )
    return doc


def train_file(
    path: str,
    target: str,
    features: Sequence[str] = (),
    processes: int = 1,
    chunks: int | None = None,
    strict: bool = False,
    delimiter: str = ",",
    compare_full_fit: bool = False,
    full_fit_max_mb: float = 1024,
) -> dict[str, Any]:
    """Fit a whole file with a pool of `processes` workers: what `poolpipe train` prints."""
    columns = choose_columns(path, target, features, delimiter)
    ranges = split_file(path, chunks or processes, skip_header=True)
    parts = train_chunks(ranges, columns, processes, strict)
    return model_json(parts, columns, strict, compare_full_fit, full_fit_max_mb)
