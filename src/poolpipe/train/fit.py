"""The passes over a CSV file's rows through the pool: the first pass summarises each chunk into
a mergeable TrainPart; a second pass, where asked or needed, refines the coefficients or sums
the middle of the robust covariance; the full fit reads every row at once as a check.

Every pass streams its byte ranges block by block (bounded memory) and is cut into pieces for
the pool by their size alone (pieces_of), so the workers share each chunk and the result does
not depend on how many there are.

Refinement. A least-squares solution from a backward-stable QR in doubles is accurate to
about eps·(κ + κ²·tanθ) (κ the condition number of the equilibrated design, θ the angle
between y and the fitted values): on a large-residual fit such as NIST Wampler5 that leaves
6 or 7 digits. One step of refinement recovers the rest: the rows are read once more and
each worker sums in extended precision (numpy's longdouble) the residuals r = y - a - x b of
the current fit and their products with the centered rows; the correction solves the normal
equations of those sums with the merged R (the corrected seminormal equations). The step
contracts the error by about eps·κ², so it runs only where that is small and where the
estimate says digits are missing: a well-conditioned fit (the demo, most data) is never read
twice.

Robust errors (HC0-HC3). The residuals need the merged coefficients, so the rows are read
once more. A worker sums, over its rows, s_i v_i v_iᵀ with v_i = [1, (x_i - x̄) G] in the
held scale (G Gᵀ = (R11ᵀR11)⁺: the rows of Q, whatever the design's conditioning) and
s_i = (w_i / w̄)² e_i² (over 1 - h_i for HC2, its square for HC3), w̄ the mean weight,
h_i = w_i (1/W + |(x_i - x̄) G|²) the leverage. The residuals e_i are over a power of two
near their size, and (x_i - x̄) G times one near √w̄, so that data near 1e-300 and weights
near 1e300 leave the sums in range. The sums merge by addition; inference.robust_errors
makes the sandwich of them, with w̄ and the powers of two taken back out.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

import numpy as np

from poolpipe.core.chunks import (
    BLOCK_SIZE,
    Range,
    header_end,
    iter_blocks,
    merge_ordered,
    pieces_by_size,
    strict_stop,
)
from poolpipe.core.pool import one_blas_thread, pool_map, serial_map
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns, read_json_file
from poolpipe.train.inference import Design
from poolpipe.train.rows import MAX_EXAMPLES, BadRow, overlong_row, parse_block, row_capacity
from poolpipe.train.scatter import Pairwise, Scatter
from poolpipe.train.solve import Fit, column_norms

T = TypeVar("T")
R = TypeVar("R")

EPS = float(np.finfo(float).eps)
WANTED = 1e-13
"""Refine when the first pass's coefficients may be off by more than this, relatively."""
CONTRACTION = 1e-3
"""...and only where one step contracts the error at least this much (eps·κ² below it)."""

LEVERAGE_ONE = 1e-13
"""A row whose leverage is within this of 1 has leverage 1 for HC2 and HC3 (undefined): the
leverage's own rounding is about k·eps, and its residual, of the same order, is noise too, so
e / (1 - h) would be a ratio of rounding errors (a single row of a dummy column gave one)."""

FULL_FIT_COPIES = 4.0
"""Peak memory of scikit-learn's full fit, in copies of the parsed [X y] array."""


def describe(rng: Range, purpose: str = "") -> str:
    """A piece of a pass as an error names it: its bytes and file, and the pass if not the first."""
    return rng.label() + (f" ({purpose})" if purpose else "")


def run_pass(
    job: Callable[[T], R],
    tasks: Sequence[T],
    processes: int,
    *,
    serial: bool,
    name: Callable[[T], str],
) -> Iterable[R]:
    """The job over the tasks in a pool of `processes` workers (no more than the tasks), or in
    this process if serial or there is one task."""
    if serial or len(tasks) == 1:  # a pool of one would only add its start
        with one_blas_thread():  # once for every task, as a worker holds it
            return list(serial_map(job, tasks))
    return pool_map(job, tasks, max(1, min(processes, len(tasks))), describe=name)


def pieces_of(rng: Range) -> list[Range]:
    """A range's pieces for the pool (pieces_by_size): a fit is byte-identical on any number
    of processes (a laptop's 2, a cluster node's 16)."""
    return pieces_by_size(rng)


def train_workers(ranges: Sequence[Range], processes: int) -> int:
    """The workers train_chunks runs the ranges with (run_pass's pool: no more than their
    pieces): what a timing record names, not the processes asked for."""
    return max(1, min(processes, sum(len(pieces_of(rng)) for rng in ranges)))


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

    @classmethod
    def read(cls, path: str | os.PathLike[str], width: int) -> TrainPart:
        """A part train_chunk wrote for rows of `width` columns, or one sentence if not one."""
        what = "a part of train_chunk"
        data = read_json_file(path, label="train part", what=what)
        try:
            part = cls.from_json(data)
            problem = part._problem(width)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            raise PoolpipeError(f"{path} is not {what}: {problem}")
        return part

    def _problem(self, width: int) -> str | None:
        """What makes this part impossible (a corrupt file, or one of other columns), or None."""
        s = self.scatter
        counts = (s.rows, self.lines, self.blank_lines, self.skipped_rows, self.skipped_weights)
        if not all(type(n) is int and n >= 0 for n in (*counts, self.bytes)):
            return "its counts are not whole numbers of 0 or more"
        if s.mean.shape != (width,) or s.r.shape != (width, width) or s.exponent.shape != (width,):
            return f"its summary is not one of {width} columns"
        weight = 0.0 if s.weight is None else s.weight
        numbers = (s.mean, s.r, s.exponent, weight)
        if not all(np.asarray(v).dtype.kind in "if" for v in numbers[:3]) or not all(
            np.isfinite(v).all() for v in numbers
        ):
            return "its summary is not finite numbers"
        texts = [(ex.line, ex.text, ex.reason) for ex in self.examples]
        if not all(
            type(n) is int and isinstance(a, str) and isinstance(b, str) for n, a, b in texts
        ):
            return "its skipped rows are not line numbers with text"
        return None


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


@functools.lru_cache(maxsize=1)
def row_buffer(rows: int, width: int) -> np.ndarray:
    """The buffer a process parses blocks into, made once and reused piece after piece: a new
    one's pages (16 MB for 20 columns) were faulted in for every piece of a few ms."""
    return np.empty((rows, width))


def good_rows(rng: Range, columns: Columns) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """The good rows of one range, block by block, with their weights: for a second pass."""
    out = row_buffer(row_capacity(columns, BLOCK_SIZE), columns.width)
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
    # one buffer for the whole range: parse_block fills it block after block, so a worker's
    # memory is one block and its rows, whatever the range's size
    out = row_buffer(row_capacity(columns, block_size), columns.width)
    scatter = Pairwise()  # the blocks' summaries, merged pairwise
    lines = blanks = skipped = weightless = 0
    examples: list[BadRow] = []
    # one BLAS thread a worker: the pool already has a process per core, and the small QRs
    # of Scatter.add gain nothing from threads that would only contend for the same cores
    with one_blas_thread():
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
                    scatter.push(Scatter.empty(columns.fit_width).add(values, reference, weights))
            examples += [replace(ex, line=ex.line + lines) for ex in found]
            # strict stops at the first block holding a bad row, not at the end of the range:
            # the error stops the pool and its other workers with it
            if strict and examples:
                first = examples[0]
                raise strict_stop(rng, first.line, f"{first.reason}: {first.text!r}")
            lines += nlines
    return TrainPart(
        scatter=scatter.total() if scatter else Scatter.empty(columns.fit_width),
        lines=lines,
        blank_lines=blanks,
        skipped_rows=skipped,
        skipped_weights=weightless,
        bytes=rng.size,
        examples=tuple(examples[:MAX_EXAMPLES]),
    )


@dataclass(frozen=True)
class _Trainer:
    columns: Columns
    strict: bool

    def __call__(self, task: tuple[int, Range]) -> TrainPart:
        return train_range(task[1], self.columns, strict=self.strict)


def train_chunks(
    ranges: Sequence[Range],
    columns: Columns,
    *,
    processes: int,
    strict: bool = False,
    serial: bool = False,
) -> list[TrainPart]:
    """One part per range, its pieces run by a pool of `processes` workers (or here if serial)."""
    tasks = [(i, piece) for i, rng in enumerate(ranges) for piece in pieces_of(rng)]
    results = run_pass(
        _Trainer(columns, strict), tasks, processes, serial=serial, name=lambda t: describe(t[1])
    )
    grouped: list[list[TrainPart]] = [[] for _ in ranges]
    for (i, _), part in zip(tasks, results, strict=True):
        grouped[i].append(part)
    return [merge_parts(group, columns.fit_width) for group in grouped]


def needs_refinement(d: Design, condition: float | None) -> bool:
    """Whether the error estimate eps·(κ + κ²·tanθ) asks for a step, and the step converges."""
    if condition is None or not math.isfinite(condition) or d.df_resid <= 0:
        return False
    r = d.kept.scatter.r
    k = d.rank
    # R's last column holds y: its diagonal entry is the residual norm, the rest the fitted part;
    # norms, not their squares, which are 0 for columns near 1e-300 and inf near 1e300
    residual = abs(float(r[k, k]))
    explained = float(column_norms(r[:k, k : k + 1])[0]) if k else 0.0
    tan = residual / explained if explained > 0 else math.inf
    estimate = EPS * (condition + condition * condition * tan)
    return estimate > WANTED and EPS * condition * condition < CONTRACTION


@dataclass(frozen=True)
class RefinePass:
    """A worker's share of the step: sums over its rows, in longdouble."""

    columns: Columns
    design: Design
    intercept: np.longdouble
    coef: np.ndarray

    def __call__(self, rng: Range) -> np.ndarray:
        """[Σw r, Σw (x-m) r, Σw (x-m)] over the good rows of one range (x, m held scale)."""
        d = self.design
        k = d.rank
        cols = d.kept.columns
        mean = d.means[:k].astype(np.longdouble)
        sums = np.zeros(1 + 2 * k, dtype=np.longdouble)
        with one_blas_thread():
            for values, weights in good_rows(rng, self.columns):
                v = np.ldexp(values[:, cols].astype(np.longdouble), -d.exponent)
                x = v[:, :k] - mean
                resid = v[:, k] - self.intercept - v[:, :k] @ self.coef
                if weights is not None:
                    resid *= weights
                    sums[1 + k :] += weights @ x
                else:
                    sums[1 + k :] += x.sum(axis=0)
                sums[0] += resid.sum()
                sums[1 : 1 + k] += resid @ x
        return sums


def refine(
    ranges: Sequence[Range],
    columns: Columns,
    d: Design,
    *,
    processes: int,
) -> tuple[np.ndarray, float]:
    """The refined kept coefficients and intercept in the data's scale, after one step."""
    k = d.rank
    e = d.exponent
    coef = d.coef.astype(np.longdouble)
    means = d.means.astype(np.longdouble)
    intercept = means[k] - means[:k] @ coef if d.intercept else np.longdouble(0)
    job = RefinePass(columns, d, intercept, coef)
    tasks = [piece for rng in ranges for piece in pieces_of(rng)]
    results = run_pass(
        job, tasks, processes, serial=processes == 1, name=lambda t: describe(t, "refinement")
    )
    sums = np.sum(list(results), axis=0)
    g0, g1, s = sums[0], sums[1 : 1 + k], sums[1 + k :]
    # the step (δa, δb) is the least-squares fit of the residuals r on [1, x - m]; in its
    # normal equations the merged R stands for Σ w (x - m)(x - m)ᵀ (never formed: G Gᵀ is its
    # inverse), so δb = G Gᵀ (g1 - s g0 / W) and the centered intercept moves by
    # (g0 - s·δb) / W; s, the sum of x - m, is 0 but for the rounding of m, and the term
    # s sᵀ / W beside RᵀR is dropped as second order
    gram_inverse = d.inverse_root @ d.inverse_root.T
    if d.intercept:
        rhs = g1 - s * (g0 / np.longdouble(d.weight))
        step = gram_inverse @ rhs.astype(float)
        coef = coef + step
        shift = (g0 - s @ step.astype(np.longdouble)) / np.longdouble(d.weight)
        intercept = intercept + shift - means[:k] @ step.astype(np.longdouble)
    else:
        coef = coef + gram_inverse @ g1.astype(float)
    with np.errstate(over="ignore", invalid="ignore"):
        data_coef = np.ldexp(coef, (e[k] - e[:k]).astype(int)).astype(float)
        data_intercept = float(np.ldexp(intercept, int(e[k])))
    return data_coef, data_intercept


@dataclass(frozen=True)
class RobustPass:
    """What a worker of the second pass needs: the columns, the merged fit and the kind."""

    columns: Columns
    design: Design
    kind: str

    def __call__(self, rng: Range) -> np.ndarray:
        """The sums of s_i u_i u_iᵀ over the good rows of one range."""
        d = self.design
        p = len(d.coef)
        cols = d.kept.columns
        reference = np.asarray(self.columns.reference, dtype=float)[cols]
        shift = np.ldexp(reference, -d.exponent)
        centre = d.means - shift
        exponent = d.residual_exponent
        meat = np.zeros((p + 1, p + 1))
        with one_blas_thread(), np.errstate(divide="ignore", invalid="ignore"):
            for values, weights in good_rows(rng, self.columns):
                v = values[:, cols]
                if d.exponent.any():
                    v = np.ldexp(v, -d.exponent)
                v -= shift
                v -= centre
                x = v[:, :p]
                # over a power of two near their size: tiny residuals square to no underflow
                resid = np.ldexp(v[:, p] - x @ d.coef, -exponent)
                s = resid * resid
                if weights is not None:
                    # over the mean weight: weights near 1e300 square to no infinity
                    # (robust_errors multiplies the mean back in)
                    relative = weights / (d.weight / d.rows)
                    s *= relative * relative
                spread = x @ d.inverse_root  # the rows of Q in x = Q R11: well conditioned
                if self.kind in ("hc2", "hc3"):
                    lev = 1 / d.weight + np.einsum("ij,ij->i", spread, spread)
                    if weights is not None:
                        lev *= weights
                    rest = 1 - lev
                    rest[rest < LEVERAGE_ONE] = math.nan  # 0 / 0: undefined, never a number
                    s /= rest if self.kind == "hc2" else rest**2
                q = np.ldexp(spread, d.weight_exponent)
                scaled = q * s[:, None]
                meat[0, 0] += s.sum()
                meat[0, 1:] += scaled.sum(axis=0)
                meat[1:, 1:] += scaled.T @ q
        meat[1:, 0] = meat[0, 1:]
        return meat


def robust_sums(
    ranges: Sequence[Range], job: RobustPass, *, processes: int, serial: bool = False
) -> np.ndarray:
    """The second pass over every range, its pieces run by the pool: the summed middle matrix."""
    tasks = [piece for rng in ranges for piece in pieces_of(rng)]
    results = run_pass(
        job,
        tasks,
        processes,
        serial=serial or processes == 1,
        name=lambda t: describe(t, "robust errors"),
    )
    p = len(job.design.coef)
    total = np.zeros((p + 1, p + 1))
    for meat in results:
        total += meat
    return total


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
    """scikit-learn's LinearRegression on all good rows at once (one BLAS thread).

    rows counts every parsed row, those whose weight is skipped included.
    """
    from sklearn.linear_model import LinearRegression

    values, weights, _ = fit_rows(read_rows(columns, rows), columns)
    p = columns.fit_width - 1
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore"):
        model = LinearRegression().fit(values[:, :p], values[:, p], sample_weight=weights)
    return Fit(tuple(float(c) for c in model.coef_), float(model.intercept_), int(model.rank_))


def full_fit_mb(rows: int, width: int) -> float:
    """MiB the full fit is expected to need at its peak."""
    return rows * width * 8 * FULL_FIT_COPIES / 2**20
