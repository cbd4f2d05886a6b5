"""The page's sections, each a titled text with the table and the plot drawn from it."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from poolpipe.core import tsv
from poolpipe.core.inputs import check_input_file
from poolpipe.core.outputs import interval_level, r2_label
from poolpipe.report.cells import (
    count,
    counted,
    figures,
    grouped,
    p_value,
    rate,
    shown,
    size,
)


def _ms(value: object) -> str:
    return f"{shown(value)} ms" if isinstance(value, int | float) else ""


@dataclass(kw_only=True)
class Section:
    """A titled part of the page: prose, an optional table and an optional plot."""

    title: str
    text: str = ""
    table: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None
    png: bytes | None = None
    caption: str = ""
    fold: str = ""
    """Where set, the table is folded away under this summary line (a long table)."""


def _named(title: str, dataset: str | None) -> str:
    """A section's title, with the dataset it shows where there is one."""
    return f"{title} ({dataset})" if dataset else title


def _whole(value: object) -> str:
    """A whole number grouped, anything else as it is."""
    return grouped(value) if type(value) is int else str(value)


def train_section(model: dict, *, dataset: str | None = None) -> Section:
    """Each merge method's largest difference from scikit-learn's fit on all rows."""
    from poolpipe.report import plots

    diffs = model.get("max_abs_diff_from_full_fit")
    title = _named("Train: averaged vs exact merge", dataset)
    if not diffs:
        skipped = model.get("full_fit_skipped")
        return Section(
            title=title,
            text=f"No full fit to compare with: scikit-learn's fit on all rows was skipped "
            f"({skipped})."
            if skipped
            else "No full fit to compare with: none was made (train.compare_full_fit applies to "
            "the demo datasets and to sheet rows that name it in demo_settings).",
        )
    methods = list(diffs)
    rows = [[m, shown(diffs[m]["coef"]), shown(diffs[m]["intercept"])] for m in methods]
    worst = [max(diffs[m]["coef"], diffs[m]["intercept"]) for m in methods]
    chunks = model["chunks"]
    averaged = model.get("chunks_averaged", chunks)  # a chunk with no rows has no fit to average
    over = counted(chunks, "chunk") + (
        f", {averaged} of them with a fit to average" if averaged != chunks else ""
    )
    text = (
        f"Largest absolute difference of each method's coefficients and intercept from "
        f"scikit-learn's fit on all {counted(model['rows'], 'row')}, over {over}."
        + (f" Warning: {model['average_warning']}." if model.get("average_warning") else "")
    )
    if not any(worst):  # a constant target, for one: every method is exact, nothing to draw
        return Section(
            title=title,
            text=text + " Every method matches the full fit exactly: all differences are 0.",
            table=(["method", "coef", "intercept"], rows),
        )
    return Section(
        title=title,
        text=text,
        table=(["method", "coef", "intercept"], rows),
        png=plots.bars(
            methods,
            [max(w, 1e-17) for w in worst],
            ylabel="max |difference| from the full fit",
            title="Train error by merge method",
            log=True,
        ),
        caption="Log scale: the exact merge sits at rounding error, averaging does not."
        + (" A difference of 0 is drawn at 1e-17." if not all(worst) else ""),
    )


def crawl_section(
    pages_tsv: str | os.PathLike[str], summary: dict, *, dataset: str | None = None
) -> Section:
    """The distribution of fetch latencies, with the crawl's own percentiles."""
    from poolpipe.report import plots

    check_input_file(pages_tsv)
    with Path(pages_tsv).open(newline="", encoding="utf-8", errors="replace") as fh:
        elapsed, good, failed, unchanged, robots = [], 0, 0, 0, 0
        for r in tsv.records(fh):  # as merge_crawl writes it: a quote is text, not quoting
            try:
                ms = float(r.get("elapsed_ms") or "nan")
            except ValueError:
                continue
            if math.isfinite(ms) and ms >= 0:
                elapsed.append(ms)
                failed += bool(r.get("error"))
                robots += r.get("error") == "robots"
                good += not r.get("error") and (r.get("status") or "").startswith("2")
                unchanged += not r.get("error") and r.get("status") == "304"
    other = len(elapsed) - good - failed - unchanged
    parts = [f"{count(good)} of them got a success status (2xx)"]
    if unchanged:
        parts.append(f"{count(unchanged)} {'was' if unchanged == 1 else 'were'} unchanged (304)")
    refused = f" ({count(robots)} refused by robots.txt)" if robots else ""
    parts += [f"{count(failed)} ended in an error row{refused}"] if failed else []
    parts += [f"{count(other)} got another status"] if other else []
    timing = summary.get("timing", {})
    latency = timing.get("latency_ms", {})
    downloaded, wall = summary.get("bytes"), timing.get("wall_s")
    head = ["attempted URLs", "p50", "p90", "p99", "max", "URLs/s", "downloaded", "rate"]
    row = [
        str(len(elapsed)),
        *(_ms(latency.get(k)) for k in ("p50", "p90", "p99", "max")),
        shown(timing.get("pages_per_s")),
        size(downloaded),
        rate(downloaded, wall, "B"),
    ]
    return Section(
        title=_named("Crawl: latency distribution", dataset),
        text=f"Time from the first attempt to the last byte, per attempted URL: "
        f"{counted(len(elapsed), 'URL')} {'was' if len(elapsed) == 1 else 'were'} attempted "
        f"(URLs/s counts them); {_listed(parts)}.",
        table=(head, [row]),
        png=plots.histogram(elapsed, "ms per URL (log scale)", "Crawl latency")
        if elapsed
        else None,
        caption="Each URL's time from its first attempt to its last byte, on a log axis; a "
        "long tail to the right is slow pages, retries and timeouts.",
    )


def _listed(parts: Sequence[str]) -> str:
    """Parts of a sentence as a list: 'a', 'a and b', 'a, b and c'."""
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _t(value: float | None) -> str:
    """A t statistic to four significant figures, as summary.txt writes it."""
    return "" if value is None else figures(value, 4)


def _precise(value: float | None) -> str:
    """A coefficient or a bound to six significant figures, so an interval's ends differ."""
    return "" if value is None else f"{value:.6g}"


def _undefined(result: dict, names: dict[str, str]) -> str:
    """A sentence naming each undefined statistic with why, those of one reason together."""
    why = result.get("undefined") or {}
    reasons: dict[str, list[str]] = {}
    for key, name in names.items():
        if result.get(key) is None and why.get(key):
            reasons.setdefault(str(why[key]), []).append(name)
    return "".join(f" {_listed(named)} undefined: {reason}." for reason, named in reasons.items())


def _fitted_how(model: dict) -> str:
    """What the fit weighed and what else was fitted: its weight column, rows left out for their
    weight, and the ridge fit beside it."""
    text = ""
    if model.get("weights"):
        text += f" Weighted by column {model['weights']}"
        left = model.get("skipped_weights") or 0
        text += f"; {counted(left, 'row')} with a weight of 0 or below left out." if left else "."
    ridge = model.get("ridge")
    if isinstance(ridge, dict):
        r2 = ridge.get("r2")
        why = (ridge.get("undefined") or {}).get("r2")
        r2_text = shown(r2) if r2 is not None else f"undefined ({why})" if why else "undefined"
        text += (
            f" The table is the least-squares fit; a ridge fit (train.ridge = "
            f"{figures(ridge.get('alpha', 0), 6)}: R² {r2_text}, residual RMSE "
            f"{shown(ridge.get('rmse'))}) is in model.json."
        )
    return text


def _passes(exact: dict) -> str:
    """How often the fit read the rows: once, again to refine the coefficients, again for the
    robust errors."""
    count = 1 + bool(exact.get("refined")) + bool(exact.get("robust"))
    return ("one pass", "two passes", "three passes")[count - 1]


def _warnings(exact: dict) -> list[str]:
    """The fit's warnings (train.model.warnings) the sentence does not say already: all but
    the aliased columns', which come first when there are any."""
    said = [str(w) for w in exact.get("warnings") or []]
    return said[1:] if exact.get("aliased") else said


def fit_section(model: dict, *, dataset: str | None = None) -> Section:
    """The exact fit as a statistician reads it: each coefficient's error, t, p and interval."""
    exact = model.get("exact") or {}
    title = _named("Train: the exact fit", dataset)
    if "std_err" not in exact:
        return Section(title=title, text="The exact fit carries no statistics.")
    level = interval_level(exact["alpha"])
    terms = [(name, lambda d, i=i: d["coef"][i]) for i, name in enumerate(model["features"])]
    if exact.get("fit_intercept", True):  # through the origin: no intercept was fitted
        terms.append(("intercept", lambda d: d["intercept"]))
    robust = exact.get("robust")
    errors = robust or exact  # the errors asked for: robust ones where train.robust names them
    rows = [
        [name, _precise(pick(exact))]
        + [shown(pick(errors["std_err"])), _t(pick(errors["t"]))]
        + [p_value(pick(errors["p"]), 4)]  # t and p as summary.txt writes them
        + [_precise(bound) for bound in (pick(errors["conf_int"]) or (None, None))]
        for name, pick in terms
    ]
    aliased = ", ".join(str(a) for a in exact.get("aliased") or []) or "none"

    def stat(key: str, text: Callable[[float], str]) -> str:
        return "undefined" if exact.get(key) is None else text(exact[key])

    return Section(
        title=title,
        text=f"Fitted on {counted(exact['n'], 'row')} in {_passes(exact)}: {r2_label(exact)} "
        f"{stat('r2', shown)} "
        f"(adjusted {stat('adj_r2', shown)}), residual RMSE {stat('rmse', shown)}, "
        f"F {stat('f_stat', shown)} on {_whole(exact['df_model'])} and "
        f"{_whole(exact['df_resid'])} degrees of freedom "
        f"(p {stat('f_p', lambda v: p_value(v, 4))}); aliased columns: {aliased}."
        + _undefined(exact, {"r2": r2_label(exact), "adj_r2": "adjusted R²", "f_stat": "F"})
        + "".join(f" Warning: {warning}." for warning in _warnings(exact))
        + (f" Standard errors: {robust['kind'].upper()} (robust)." if robust else "")
        + "".join(  # why the table's cells are empty, each as a sentence of its own
            f" {why[:1].upper()}{why[1:]}."
            for key in ("std_err", "t")
            if (why := (errors.get("undefined") or {}).get(key))
        )
        + _fitted_how(model),
        table=(["term", "coef", "std err", "t", "p", f"{level} low", f"{level} high"], rows),
    )


def predict_section(summary: dict, *, dataset: str | None = None) -> Section:
    """A model's predictions on new rows, and how far they fell from the target where known."""
    bad = summary.get("bad_rows", {}).get("count", 0)
    row = [
        summary.get("model", ""),
        summary.get("method", ""),
        _whole(summary.get("rows", "")),
        _whole(bad),
    ]
    scored = summary.get("scored_rows")
    row += [  # with no row scored there is no error at all: the cells stay empty
        "undefined" if scored and summary.get(key) is None else shown(summary.get(key))
        for key in ("rmse", "r2")
    ]
    return Section(
        title=_named("Predict: the model on new rows", dataset),
        text=f"Predictions for {summary.get('input', '')}; "
        + (
            f"{counted(scored, 'row')} carried the target, so the error is out of sample."
            + _undefined(summary, {"rmse": "RMSE", "r2": "R²"})
            if scored
            else "no row carried the target, so there is no error to show."
        ),
        table=(["model", "method", "rows", "bad rows", "RMSE", "R²"], [row]),
    )
