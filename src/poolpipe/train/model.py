"""The model.json document and its text summary: the exact fit with its statistics (robust
errors and a refinement step from a second pass if asked or needed), the ridge fit, the
averaged chunk fits of the article's recipe, the counts, and the full fit's differences.

The summary (summary_text) is the exact fit as a statistician reads it: numbers rounded to
DIGITS significant digits; a p-value below P_FLOOR (or one that underflowed to 0) written
"< 1e-300", never "0"; a statistic that is undefined (null in model.json) written "-".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from poolpipe.core.chunks import Range, split_file
from poolpipe.core.defaults import schema_bounds
from poolpipe.core.outputs import P_FLOOR, interval_level, r2_label
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns, choose_columns
from poolpipe.train.fit import (
    RobustPass,
    TrainPart,
    full_fit,
    full_fit_mb,
    merge_parts,
    needs_refinement,
    refine,
    robust_sums,
    train_chunks,
)
from poolpipe.train.inference import (
    KINDS,
    coefficient_table,
    design,
    inference,
    number,
    ridge_measures,
    robust_errors,
    zero_error,
)
from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import CONDITION_WARN, Fit, average, solve, through_origin

HEADER_LINES = 1
"""Lines before the data (the header): parts number lines from the first data line."""
DIGITS = 6


def finite(fit: Fit) -> bool:
    """Whether every coefficient and the intercept are finite."""
    return bool(np.isfinite([*fit.coef, fit.intercept]).all())


def check_finite(fit: Fit, what: str, path: str) -> Fit:
    """The fit, or one sentence if a coefficient passes the float limit."""
    if not finite(fit):
        raise PoolpipeError(
            f"{path}: the {what} is not finite: a coefficient or the intercept passes the "
            "float limit (about 1.8e308); rescale the columns"
        )
    return fit


@dataclass(frozen=True, kw_only=True)
class Options:
    """What a fit reports beyond its coefficients: interval level, ridge, robust errors, and
    whether the model has an intercept."""

    alpha: float = 0.05
    ridge: float = 0.0
    robust: str = "none"
    intercept: bool = True

    def __post_init__(self) -> None:
        if self.robust not in ("none", *KINDS):
            raise PoolpipeError(
                f"robust must be one of none, {', '.join(KINDS)}, not {self.robust!r}"
            )
        if self.robust != "none" and not self.intercept:
            raise PoolpipeError(
                "robust errors are computed for models with an intercept only; "
                "leave out robust or keep the intercept"
            )

        for name in ("alpha", "ridge"):
            problem = schema_bounds(f"train.{name}").problem(getattr(self, name))
            if problem:
                raise PoolpipeError(f"train.{name} {problem}")

    def summary(self, scatter: Scatter, reference: Sequence[float]) -> Scatter:
        """The rows' summary the fit solves: about the means, or about 0 without intercept."""
        return scatter if self.intercept else through_origin(scatter, reference)


def exact_json(
    total: TrainPart,
    columns: Columns,
    options: Options,
    ranges: Sequence[Range],
    *,
    processes: int = 1,
) -> dict[str, Any]:
    """The exact fit with its statistics, and robust errors from a second pass if asked."""
    reference = columns.reference
    scatter = options.summary(total.scatter, reference)
    exact = check_finite(solve(scatter, reference), "exact fit", columns.path)
    names = columns.feature_names
    d = design(scatter, reference, intercept=options.intercept)
    aliased = [names[j] for j in d.kept.aliased]
    condition = d.kept.condition_number()
    refined = bool(ranges) and needs_refinement(d, condition)
    if refined:
        kept_coef, intercept = refine(ranges, columns, d, processes=processes)
        coef = d.kept.expand(list(kept_coef), 0.0)
        exact = check_finite(Fit(tuple(coef), intercept, exact.rank), "exact fit", columns.path)
    doc = {
        **exact.to_json(),
        "fit_intercept": options.intercept,
        "aliased": aliased,
        "condition_number": number(condition) if condition is not None else None,
        "refined": refined,
        "warnings": warnings(aliased, condition),
        **inference(d, coef=exact.coef, intercept=exact.intercept, alpha=options.alpha),
    }
    if options.robust != "none":
        job = RobustPass(columns, d, options.robust)
        meat = robust_sums(ranges, job, processes=processes)
        table = coefficient_table(
            coef=[exact.coef[j] for j in d.kept.features],
            intercept=exact.intercept,
            errors=robust_errors(d, meat, options.robust),  # NaN: a null
            d=d,
            alpha=options.alpha,
        )
        doc["robust"] = {"kind": options.robust, **table}
        errs = [table["std_err"]["intercept"], *table["std_err"]["coef"]]
        if any(table["std_err"]["coef"][j] is None for j in d.kept.features):
            doc["robust"]["undefined"] = {"std_err": ROBUST_UNDEFINED[options.robust != "hc0"]}
        elif 0 in errs:  # meat[0, 0] sums the squared residuals: 0 when each is
            doc["robust"]["undefined"] = {"t": zero_error(meat[0, 0] == 0)}
    return doc


def _deficient(fitted: Sequence[tuple[Fit, int]], features: int) -> str | None:
    """What the averages are worth when chunk fits in them could not tell every coefficient."""
    short = sum(fit.rank is not None and fit.rank < features for fit, _ in fitted)
    if not short:
        return None
    return (
        f"{short} of the {len(fitted)} chunk fits averaged are rank-deficient (a chunk of fewer "
        "rows than columns, or with aliased ones): their coefficients of 0 pull the averages "
        "toward 0; the exact fit has no such error"
    )


ROBUST_UNDEFINED = (
    "not finite: the robust sums passed the float range",
    "not finite: a row of leverage 1 (one the fit must pass through) leaves them undefined, "
    "or the robust sums passed the float range",
)
"""Why robust errors are null: for HC0, and for the kinds that divide by 1 - leverage."""


def warnings(aliased: Sequence[str], condition: float | None) -> list[str]:
    """What a reader of the fit should know first: aliased columns, a large condition number."""
    said = []
    if aliased:
        said.append(
            f"{len(aliased)} column(s) aliased (a combination of the columns before them, "
            f"left out of the fit): {', '.join(aliased)}"
        )
    if condition is not None and condition > CONDITION_WARN:
        digits = math.log10(condition) if math.isfinite(condition) else math.inf
        said.append(
            f"the condition number is large ({condition:.3g}): the columns are nearly "
            f"collinear and the coefficients may lose about {digits:.0f} of their 16 digits"
        )
    return said


def ridge_json(total: TrainPart, columns: Columns, options: Options) -> dict[str, Any]:
    """The ridge fit (scikit-learn's Ridge with its intercept) and how well it fits."""
    scatter = options.summary(total.scatter, columns.reference)
    fit = solve(scatter, columns.reference, ridge=options.ridge)
    fit = check_finite(fit, "ridge fit", columns.path)
    return {
        "alpha": options.ridge,
        "coef": list(fit.coef),
        "intercept": fit.intercept,
        **ridge_measures(scatter, options.ridge),
    }


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
    if strict and total.skipped_rows:  # a model labelled strict has skipped none
        raise PoolpipeError(
            f"the parts of {columns.path} skipped {total.skipped_rows} bad row"
            f"{'s' if total.skipped_rows != 1 else ''}, where strict stops at the first: they "
            "were read before train.strict was turned on (--rerun-triggers mtime keeps them); "
            "read them again with --forcerun train_chunk"
        )
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
        "average_warning": _deficient(fitted, len(columns.feature_names)),
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
            shown = f"{need:.0f}" if need >= 10 else f"{need:.2g}"  # never "about 0 MiB"
            doc["full_fit_skipped"] = (
                f"needs about {shown} MiB, more than full_fit_max_mb = {full_fit_max_mb:g}"
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


def shown(value: float | None, digits: int = DIGITS) -> str:
    """value to `digits` significant digits, "-" if undefined."""
    return "-" if value is None else f"{value:.{digits}g}"


def p_value(value: float | None) -> str:
    """A p-value: 4 significant digits, "< 1e-300" below the floor."""
    if value is None:
        return "-"
    return f"< {P_FLOOR:g}" if value < P_FLOOR else f"{value:.4g}"


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        cells = [row[0].ljust(widths[0]), *rest]
        lines.append("  ".join(cells).rstrip())
    return lines


def summary_text(model: dict[str, Any]) -> str:
    """The summary of a model.json document's exact fit, as lines of text."""
    exact = model["exact"]
    head = ["", "coef", "std err", "t", "P>|t|", f"[{interval_level(exact['alpha'])}", "interval]"]
    rows = [head]
    names = [*(["intercept"] if exact.get("fit_intercept", True) else []), *model["features"]]
    coef = [*([exact["intercept"]] if exact.get("fit_intercept", True) else []), *exact["coef"]]

    robust = exact.get("robust")
    errors = robust or exact  # the errors asked for: robust ones where train.robust names them

    def column(key: str) -> list[Any]:
        cell = errors[key]
        own = [cell["intercept"]] if exact.get("fit_intercept", True) else []
        return [*own, *cell["coef"]]

    aliased = set(exact.get("aliased", []))
    for name, c, se, t, p, ci in zip(
        names,
        coef,
        column("std_err"),
        column("t"),
        column("p"),
        column("conf_int"),
        strict=True,
    ):
        if name in aliased:
            rows.append([name, "aliased", "-", "-", "-", "-", "-"])
            continue
        low, high = ci
        rows.append([name, shown(c), shown(se), shown(t, 4), p_value(p), shown(low), shown(high)])
    lines = [f"Linear regression of {model['target']} on {model['input']}", ""]
    lines += _table(rows)
    undefined = exact.get("undefined", {})

    def measure(key: str) -> str:
        why = undefined.get(key)
        return f"- ({why})" if exact.get(key) is None and why else shown(exact.get(key))

    f_line = f"{shown(exact['f_stat'])} on {exact['df_model']} and {exact['df_resid']} df"
    if exact["f_stat"] is None and undefined.get("f_stat"):
        f_line = f"- ({undefined['f_stat']})"
    else:
        f_line = f"{f_line}, p {p_value(exact['f_p'])}"
    measures = [
        ("observations", str(exact["n"])),
        ("standard errors", f"{robust['kind'].upper()} (robust)" if robust else "ordinary"),
        (r2_label(exact), measure("r2")),
        ("adjusted R²", measure("adj_r2")),
        ("F", f_line),
        ("residual SD", measure("residual_sd")),
        ("condition number", shown(exact.get("condition_number"), 3)),
        ("aliased", ", ".join(exact.get("aliased", [])) or "none"),
    ]
    width = max(len(name) for name, _ in measures)
    lines += [""] + [f"{name.ljust(width)}  {value}" for name, value in measures]
    for warning in exact.get("warnings", []):
        lines.append(f"warning: {warning}")
    for key in ("std_err", "t"):  # why the table's "-" cells are empty
        if why := (errors.get("undefined") or {}).get(key):
            lines.append(f"undefined: {why}")
    if model.get("skipped_rows", {}).get("count"):
        lines.append(f"skipped rows: {model['skipped_rows']['count']}")
    return "\n".join(lines) + "\n"
