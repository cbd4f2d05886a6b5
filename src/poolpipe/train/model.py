"""The model.json document: the exact fit, the averaged fits, counts, the full fit if asked."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from poolpipe.core.chunks import Range, split_file
from poolpipe.errors import PoolpipeError
from poolpipe.train.choose import choose_columns
from poolpipe.train.columns import Columns
from poolpipe.train.exact import Options, exact_json, finite, ridge_json
from poolpipe.train.fit import TrainPart, merge_parts, train_chunks
from poolpipe.train.fullfit import full_fit, full_fit_mb
from poolpipe.train.solve import Fit, average, solve

HEADER_LINES = 1


def _chunk_fit_json(fit: Fit | None) -> dict[str, Any]:
    """A chunk's fit; one past the float limit is said so, and left out of the averages."""
    if fit is None:
        return {}
    if not finite(fit):
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
        weightless = ""
        if total.skipped_weights:
            weightless = f", {total.skipped_weights} with a weight of 0 or below"
        raise PoolpipeError(
            f"{columns.path} has no usable rows ({total.skipped_rows} skipped{why}{weightless})"
        )
    if not math.isfinite(total.scatter.total_weight):
        raise PoolpipeError(
            f"{columns.path}: the weights add up past the float limit (about 1.8e308); "
            "divide them by a common factor"
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
    options: Options | None = None,
    ranges: Sequence[Range] = (),
    processes: int = 1,
) -> dict[str, Any]:
    """The model.json document: exact fit, averaged fits, counts, and the full fit's differences.

    ranges (the chunks' byte ranges) are read again by `processes` workers for robust errors.
    """
    options = options or Options()
    total = merge_parts(parts, columns.fit_width)
    _check_rows(total, columns)
    exact_doc = exact_json(total, columns, options, ranges, processes=processes)
    exact = Fit(tuple(exact_doc["coef"]), exact_doc["intercept"], exact_doc["rank"])
    reference = columns.reference
    chunk_fits = [
        solve(options.summary(p.scatter, reference), reference) if p.rows else None for p in parts
    ]
    fitted = [
        (fit, part.rows) for fit, part in zip(chunk_fits, parts, strict=True) if fit and finite(fit)
    ]
    methods = {"exact": exact}
    if fitted:
        methods["average"] = average([fit for fit, _ in fitted])
        methods["weighted_average"] = average([fit for fit, _ in fitted], [n for _, n in fitted])
    doc: dict[str, Any] = {
        "input": columns.path,
        "target": columns.target_name,
        "features": columns.feature_names,
        "weights": columns.weight_name,
        "ignored_columns": columns.ignored,
        "rows": total.rows,
        "skipped_rows": {
            "count": total.skipped_rows,
            "examples": [{**asdict(ex), "line": ex.line + HEADER_LINES} for ex in total.examples],
        },
        "skipped_weights": total.skipped_weights,
        "blank_lines": total.blank_lines,
        "lines": total.lines + HEADER_LINES,
        "bytes": total.bytes,
        "chunks": len(parts),
        "chunks_averaged": len(fitted),
        "strict": strict,
        "exact": exact_doc,
        "ridge": ridge_json(total, columns, options) if options.ridge > 0 else None,
        "average": methods["average"].to_json() if fitted else None,
        "weighted_average": methods["weighted_average"].to_json() if fitted else None,
        "chunk_fits": [
            {"chunk": i, "rows": part.rows, **_chunk_fit_json(fit)}
            for i, (fit, part) in enumerate(zip(chunk_fits, parts, strict=True))
        ],
    }
    if compare_full_fit:
        need = full_fit_mb(total.rows + total.skipped_weights, columns.width)
        if need <= full_fit_max_mb:
            full = full_fit(columns, total.rows + total.skipped_weights)
            if not finite(full):
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
    weights: str = "",
    options: Options | None = None,
) -> dict[str, Any]:
    """Fit a whole file with a pool of `processes` workers: what `poolpipe train` prints."""
    columns = choose_columns(path, target, features=features, delimiter=delimiter, weights=weights)
    ranges = split_file(path, chunks or processes, skip_header=True)
    parts = train_chunks(ranges, columns, processes=processes, strict=strict)
    return model_json(
        parts,
        columns,
        strict=strict,
        compare_full_fit=compare_full_fit,
        full_fit_max_mb=full_fit_max_mb,
        options=options,
        ranges=ranges,
        processes=processes,
    )
