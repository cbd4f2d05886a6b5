"""Predictions of a saved model for every row of a CSV file, over chunks in the pool.

The data lines are cut into pieces of at most PIECE_BYTES; the pool counts each
piece's lines (for line numbers), then predicts each piece, and the pieces' rows
are written in file order to one CSV, `line,prediction,error`: one row for every
non-blank data line, so nothing is dropped unseen (a bad line has an empty
prediction and says why). Where the file has the model's target column, the
out-of-sample RMSE and R² of the good rows come with the counts.
"""

from __future__ import annotations

import math
import os
from contextlib import closing
from dataclasses import asdict, replace
from typing import Any

from poolpipe.core.chunks import Range, header_end, lines_before, split_range
from poolpipe.core.outputs import check_output_path, open_atomic, refuse_overlap
from poolpipe.core.pool import pool_map
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns
from poolpipe.train.csvparse import MAX_EXAMPLES
from poolpipe.train.header import check_delimiter, read_header
from poolpipe.train.predictor import Predictor, PredictPart, combine
from poolpipe.train.saved import SavedModel, load_model

PIECE_BYTES = 32 << 20
"""Most bytes of data lines one pool task predicts (its output is held until written)."""
HEADER = b"line,prediction,error\n"


def predict_columns(path: str, model: SavedModel, delimiter: str = ",") -> Columns:
    """The model's features in a data file, and its target where the file has that column."""
    check_delimiter(delimiter)
    header = read_header(path, delimiter)
    missing = [name for name in model.features if name not in header]
    if missing:
        raise PoolpipeError(
            f"{path} has no column {missing[0]!r}, a feature of the model {model.path}"
        )
    return Columns(
        path=path,
        delimiter=delimiter,
        header=header,
        features=tuple(header.index(name) for name in model.features),
        target=header.index(model.target) if model.target in header else None,
    )


def _tasks(path: str, processes: int) -> list[tuple[Range, int]]:
    """Pieces of the data lines, each with the number of its first line."""
    start, size = header_end(path), os.path.getsize(path)
    whole = Range(path, start, size)
    pieces = split_range(whole, max(4 * processes, math.ceil(whole.size / PIECE_BYTES)))
    first = 2
    tasks = []
    for piece in pieces:
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
    parts = pool_map(predictor, tasks, processes, describe=_describe)
    with closing(parts), open_atomic(out) as fh:
        fh.write(HEADER)
        total = PredictPart()
        for part in parts:
            fh.write(part.text)
            total = _merge(total, replace(part, text=b""))
    scored = total.scored
    rmse = math.sqrt(total.sse / scored) if scored else None
    r2 = 1 - total.sse / total.m2 if scored and total.m2 > 0 else None
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
        "rmse": rmse,
        "r2": r2,
    }


def _describe(task: tuple[Range, int]) -> str:
    rng = task[0]
    return f"{rng.label()} (predictions)"
