"""The model.json document: the exact fit, the averaged fits, counts, the full fit if asked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from poolpipe.core.chunks import Range, header_end, iter_blocks, split_file
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns, choose_columns
from poolpipe.train.csvparse import parse_block
from poolpipe.train.fit import TrainPart, merge_parts, train_chunks
from poolpipe.train.solve import Fit, average, solve

HEADER_LINES = 1
FULL_FIT_COPIES = 4.0
"""Peak memory of scikit-learn's full fit, in copies of the parsed [X y] array."""


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
    with threadpool_limits(limits=1), np.errstate(over="ignore", invalid="ignore"):
        model = LinearRegression().fit(data[:, :p], data[:, p])
    return Fit(tuple(float(c) for c in model.coef_), float(model.intercept_), int(model.rank_))


def full_fit_mb(rows: int, width: int) -> float:
    """MiB the full fit is expected to need at its peak."""
    return rows * width * 8 * FULL_FIT_COPIES / 2**20


def _finite(fit: Fit) -> bool:
    return bool(np.isfinite([*fit.coef, fit.intercept]).all())


def _check_finite(fit: Fit, what: str, path: str) -> Fit:
    """The fit, or one sentence if a coefficient passes the float limit."""
    if not _finite(fit):
        raise PoolpipeError(
            f"{path}: the {what} is not finite: a coefficient or the intercept passes the "
            "float limit (about 1.8e308); rescale the columns"
        )
    return fit


def _chunk_fit_json(fit: Fit | None) -> dict[str, Any]:
    """A chunk's fit; one past the float limit is said so, and left out of the averages."""
    if fit is None:
        return {}
    if not _finite(fit):
        return {"not_finite": "a coefficient passes the float limit; left out of the averages"}
    return fit.to_json()


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
    *,
    strict: bool = False,
    compare_full_fit: bool = False,
    full_fit_max_mb: float = 1024,
) -> dict[str, Any]:
    """The model.json document: exact fit, averaged fits, counts, and the full fit's differences."""
    total = merge_parts(parts, columns.width)
    _check_rows(total, columns)
    exact = _check_finite(solve(total.scatter, columns.reference), "exact fit", columns.path)
    chunk_fits = [solve(p.scatter, columns.reference) if p.rows else None for p in parts]
    fitted = [
        (fit, part.rows)
        for fit, part in zip(chunk_fits, parts, strict=True)
        if fit and _finite(fit)
    ]
    methods = {"exact": exact}
    if fitted:
        methods["average"] = average([fit for fit, _ in fitted])
        methods["weighted_average"] = average([fit for fit, _ in fitted], [n for _, n in fitted])
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
        "exact": exact.to_json(),
        "average": methods["average"].to_json() if fitted else None,
        "weighted_average": methods["weighted_average"].to_json() if fitted else None,
        "chunk_fits": [
            {"chunk": i, "rows": part.rows, **_chunk_fit_json(fit)}
            for i, (fit, part) in enumerate(zip(chunk_fits, parts, strict=True))
        ],
    }
    if compare_full_fit:
        need = full_fit_mb(total.rows, columns.width)
        if need <= full_fit_max_mb:
            full = full_fit(columns, total.rows)
            if not _finite(full):
                doc["full_fit"] = None
                doc["full_fit_skipped"] = "scikit-learn's fit passes the float limit"
                return doc
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
    *,
    features: Sequence[str] = (),
    processes: int = 1,
    chunks: int | None = None,
    strict: bool = False,
    delimiter: str = ",",
    compare_full_fit: bool = False,
    full_fit_max_mb: float = 1024,
) -> dict[str, Any]:
    """Fit a whole file with a pool of `processes` workers: what `poolpipe train` prints."""
    columns = choose_columns(path, target, features=features, delimiter=delimiter)
    ranges = split_file(path, chunks or processes, skip_header=True)
    parts = train_chunks(ranges, columns, processes=processes, strict=strict)
    return model_json(
        parts,
        columns,
        strict=strict,
        compare_full_fit=compare_full_fit,
        full_fit_max_mb=full_fit_max_mb,
    )
