"""Predictions of a saved model for every row of a CSV file, over chunks in the pool.

The model.json is read back with a bound and checked (load_model): one method's finite
coefficients for the features it names. The data lines are cut into pieces of at most
PIECE_BYTES; the pool counts each piece's lines (for line numbers), then predicts each piece,
and the pieces' rows are written in file order to one CSV, `line,prediction,error`: one row
for every non-blank data line, so nothing is dropped unseen (a bad line has an empty
prediction and says why). A block of lines goes through the fast parser; a block with a bad
or blank line is read again line by line by the reference rule, so every line gets its own
row. Where the file has the model's target column, each piece keeps the squared errors' sum
and the target's mean and squared deviations, which merge exactly across pieces (Chan et
al.), and the out-of-sample RMSE and R² of the good rows come with the counts.
"""

from __future__ import annotations

import math
import os
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from poolpipe.core.chunks import (
    BLOCK_SIZE,
    Range,
    header_end,
    iter_blocks,
    lines_before,
    pieces_by_size,
)
from poolpipe.core.outputs import check_output_path, open_atomic, refuse_overlap
from poolpipe.core.pool import one_blas_thread, pool_map
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import (
    Columns,
    check_delimiter,
    delimiter_hint,
    parse_int,
    read_header,
    read_json_file,
)
from poolpipe.train.fit import describe
from poolpipe.train.rows import (
    MAX_EXAMPLES,
    BadRow,
    overlong_row,
    parse_block,
    parse_line,
    row_capacity,
)

METHODS = ("exact", "ridge", "average", "weighted_average")
"""The fits of a model.json that can predict."""

PIECE_BYTES = 4 << 20
"""Most bytes of data lines one pool task predicts (its output is held until written)."""
HEADER = b"line,prediction,error\n"


def _int_as_float(text: str) -> float:
    """An integer of a model.json as the float it stands for (inf past the float limit: refused
    by load_model as not finite, instead of an OverflowError where it is used)."""
    try:
        return float(parse_int(text))
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class SavedModel:
    """The coefficients of one fit of a model.json, with the columns they belong to."""

    path: str
    method: str
    features: tuple[str, ...]
    target: str
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for rows of the features, in the model's order."""
        with np.errstate(over="ignore", invalid="ignore"):
            return x @ self.coef + self.intercept


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def load_model(path: str | os.PathLike[str], method: str = "exact") -> SavedModel:
    """Read a model.json written by `poolpipe train` or merge_train; a wrong one is one sentence."""
    if method not in METHODS:
        raise PoolpipeError(f"the method must be one of {', '.join(METHODS)}, not {method!r}")
    doc = read_json_file(path, label="model", what="a model.json", parse_int=_int_as_float)
    if not isinstance(doc, dict) or not isinstance(doc.get("exact"), dict):
        raise PoolpipeError(f"{path} is not a model.json: it has no exact fit")
    features, target = doc.get("features"), doc.get("target")
    if (
        not isinstance(features, list)
        or not all(isinstance(f, str) and f for f in features)
        or not isinstance(target, str)
    ):
        raise PoolpipeError(f"{path} is not a model.json: its features or target are missing")
    if not features or len(set(features)) < len(features) or target in features:
        # train never writes these: the file was edited
        raise PoolpipeError(
            f"{path} is not a model.json: its features must be distinct columns other than the "
            "target, at least one"
        )
    fit = doc.get(method)
    if not isinstance(fit, dict):
        why = (
            "train.ridge above 0 adds one"
            if method == "ridge"
            else "no chunk's own fit was finite"
            if method != "exact"
            else "it was not written by poolpipe train"
        )
        raise PoolpipeError(f"{path} holds no {method} fit ({why})")
    coef, intercept = fit.get("coef"), fit.get("intercept")
    if (
        not isinstance(coef, list)
        or len(coef) != len(features)
        or not all(_number(c) for c in coef)
        or not _number(intercept)
    ):
        raise PoolpipeError(
            f"{path} is not a model.json: its {method} fit needs {len(features)} finite "
            "coefficients and a finite intercept"
        )
    return SavedModel(
        path=str(path),
        method=method,
        features=tuple(features),
        target=target,
        coef=np.asarray(coef, dtype=float),
        intercept=float(intercept),
    )


@dataclass(frozen=True, kw_only=True)
class PredictPart:
    """One piece's output rows and counts; sse and the target's moments for the scores, in units
    of scale (a power of two: targets near the largest double square to no infinity)."""

    text: bytes = b""
    rows: int = 0
    bad_rows: int = 0
    blank_lines: int = 0
    examples: tuple[BadRow, ...] = field(default_factory=tuple)
    scored: int = 0
    scale: float = 1.0
    sse: float = 0.0
    mean: float = 0.0
    m2: float = 0.0


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def combine(a: PredictPart, b: PredictPart) -> PredictPart:
    """Scores of both parts (Chan's merge of the target's mean and squared deviations), in the
    larger of their scales; a's counts."""
    if not b.scored:
        return a
    if not a.scored:
        return replace(a, scored=b.scored, scale=b.scale, sse=b.sse, mean=b.mean, m2=b.m2)
    n = a.scored + b.scored
    scale = max(a.scale, b.scale)
    ra, rb = a.scale / scale, b.scale / scale  # powers of two: the rescaling is exact
    mean_a, mean_b = a.mean * ra, b.mean * rb
    delta = mean_b - mean_a
    return replace(
        a,
        scored=n,
        scale=scale,
        sse=a.sse * ra * ra + b.sse * rb * rb,
        mean=mean_a + delta * b.scored / n,
        m2=a.m2 * ra * ra + b.m2 * rb * rb + delta * delta * a.scored * b.scored / n,
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
        with one_blas_thread():
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
                if not ok.all():
                    lines = bytes(block.data).split(b"\n")
                    found += [
                        BadRow(n, _shown(lines[n - line]), "the prediction is not finite")
                        for n in numbers[~ok].tolist()
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
                if cols.target is not None:
                    known = ok & np.isfinite(values[:, p])  # a NaN target: predicted, not scored
                    if known.any():
                        scores = combine(scores, _scores(values[known, p], pred[known]))
                line += parsed.lines
        text = "".join(chunks).encode()
        return PredictPart(
            text=text,
            rows=text.count(b"\n") - len(bad),
            bad_rows=len(bad),
            blank_lines=blanks,
            examples=tuple(bad[:MAX_EXAMPLES]),
            scored=scores.scored,
            scale=scores.scale,
            sse=scores.sse,
            mean=scores.mean,
            m2=scores.m2,
        )


def _scores(y: np.ndarray, pred: np.ndarray) -> PredictPart:
    """The scores of some rows (finite targets and predictions), in units of the power of two
    at or just below their largest magnitude."""
    big = max(float(np.abs(y).max()), float(np.abs(pred).max()))
    scale = math.ldexp(1.0, max(math.frexp(big)[1] - 1, -1000)) if big > 0 else 1.0
    y, pred = y / scale, pred / scale
    mean = float(y.mean())
    return PredictPart(
        scored=len(y),
        scale=scale,
        sse=float(((y - pred) ** 2).sum()),
        mean=mean,
        m2=float(((y - mean) ** 2).sum()),
    )


def _shown(raw: bytes) -> str:
    """A bad row's line as its example shows it: its first 80 characters."""
    return raw.rstrip(b"\r").decode("utf-8", errors="backslashreplace")[:80]


def _line_by_line(
    data: memoryview, columns: Columns, first: int
) -> tuple[np.ndarray, np.ndarray, list[BadRow], int]:
    """The reference rule line by line, for a block with a bad or blank line."""
    lines = bytes(data).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    features = replace(columns, target=None) if columns.target is not None else None
    numbers, values, bad, blanks = [], [], [], 0
    for i, raw in enumerate(lines):
        result = parse_line(raw, columns)
        if isinstance(result, str) and features is not None:
            # a row whose target is empty or not a number is still predicted, not scored; one
            # that cannot be predicted says why from its features, not from its target
            alone = parse_line(raw, features)
            result = (*alone, math.nan) if isinstance(alone, tuple) else alone
        if result is None:
            blanks += 1
        elif isinstance(result, str):
            bad.append(BadRow(first + i, _shown(raw), result))
        else:
            numbers.append(first + i)
            values.append(result)
    shaped = np.array(values, dtype=float).reshape(len(values), columns.width)
    return np.array(numbers, dtype=np.int64), shaped, bad, blanks


def predict_columns(path: str, model: SavedModel, delimiter: str = ",") -> Columns:
    """The model's features in a data file, and its target where the file has that column."""
    check_delimiter(delimiter)
    header = read_header(path, delimiter)
    missing = [name for name in model.features if name not in header]
    if missing:
        raise PoolpipeError(
            f"{path} has no column {missing[0]!r}, a feature of the model {model.path}"
            + delimiter_hint(header, delimiter)
        )
    return Columns(
        path=path,
        delimiter=delimiter,
        header=header,
        features=tuple(header.index(name) for name in model.features),
        target=header.index(model.target) if model.target in header else None,
    )


def _pieces(path: str) -> list[Range]:
    """The data lines cut into pieces for the pool by their bytes alone (pieces_by_size): the
    scores merge piece by piece, the same on any number of processes."""
    return pieces_by_size(Range(path, header_end(path), os.path.getsize(path)), PIECE_BYTES)


def predict_workers(path: str, processes: int) -> int:
    """The workers predict_file runs (no more than its pieces): what a timing record names."""
    return max(1, min(processes, len(_pieces(path))))


def _tasks(path: str, processes: int) -> list[tuple[Range, int]]:
    """Pieces of the data lines, each with the number of its first line."""
    first = 2
    tasks = []
    for piece in _pieces(path):
        tasks.append((piece, first))
        first += lines_before(path, piece.end, piece.start)
    return tasks


def _merge(total: PredictPart, part: PredictPart) -> PredictPart:
    """Both parts' counts, examples (numbered in the file already) and scores."""
    scores = combine(total, part)
    return replace(
        scores,
        rows=total.rows + part.rows,
        bad_rows=total.bad_rows + part.bad_rows,
        blank_lines=total.blank_lines + part.blank_lines,
        examples=(total.examples + part.examples)[:MAX_EXAMPLES],
    )


def predict_file(
    model_path: str,
    data_path: str,
    out: str,
    *,
    processes: int = 1,
    delimiter: str = ",",
    method: str = "exact",
) -> dict[str, Any]:
    """Write every data line's prediction to out; the counts and scores, as predict.json holds."""
    refuse_overlap(inputs={"model": model_path, "data": data_path}, outputs={"--out": out})
    check_output_path(out, "--out")
    model = load_model(model_path, method)
    columns = predict_columns(data_path, model, delimiter)
    tasks = _tasks(data_path, processes)
    predictor = Predictor(columns, model)
    # closing: a failed write (a full disk) stops the pool at once; a generator left open would
    # keep its workers until the interpreter's exit, which then waits on them
    workers = predict_workers(data_path, processes)
    parts = pool_map(predictor, tasks, workers, describe=lambda t: describe(t[0], "predictions"))
    with closing(parts), open_atomic(out) as fh:
        fh.write(HEADER)
        total = PredictPart()
        for part in parts:
            fh.write(part.text)
            total = _merge(total, replace(part, text=b""))
    scored = total.scored
    rmse = math.sqrt(total.sse / scored) * total.scale if scored else None
    r2 = 1 - total.sse / total.m2 if scored and total.m2 > 0 else None
    undefined = {}
    if columns.target is None:
        undefined["rmse"] = undefined["r2"] = f"the file has no target column {model.target!r}"
    elif not scored:
        undefined["rmse"] = undefined["r2"] = "no row has a target that is a finite number"
    elif r2 is None:
        undefined["r2"] = (
            "one row has a target: R² needs two" if scored == 1 else "the targets are all equal"
        )
    return {
        "model": model_path,
        "method": method,
        "input": data_path,
        "output": out,
        "bytes": os.path.getsize(data_path) - header_end(data_path),
        "features": list(model.features),
        "target": model.target if columns.target is not None else None,
        "rows": total.rows,
        "bad_rows": {"count": total.bad_rows, "examples": [asdict(b) for b in total.examples]},
        "blank_lines": total.blank_lines,
        "scored_rows": scored,
        "unscored_rows": total.rows - scored if columns.target is not None else 0,
        "rmse": rmse,
        "r2": r2,
        "undefined": undefined,
    }
