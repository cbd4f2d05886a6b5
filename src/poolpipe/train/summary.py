"""The exact fit of a model.json as a statistician reads it: its coefficients and its measures.

Numbers are rounded to DIGITS significant digits; a p-value below P_FLOOR (or one
that underflowed to 0) is written "< 1e-300", never "0"; a statistic that is
undefined (null in model.json) is written "-".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DIGITS = 6
P_FLOOR = 1e-300


def number(value: float | None, digits: int = DIGITS) -> str:
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
    level = 1 - exact["alpha"]
    head = ["", "coef", "std err", "t", "P>|t|", f"[{level:.1%}", "interval]"]
    rows = [head]
    names = [*(["intercept"] if exact.get("fit_intercept", True) else []), *model["features"]]
    coef = [*([exact["intercept"]] if exact.get("fit_intercept", True) else []), *exact["coef"]]

    def column(key: str) -> list[Any]:
        cell = exact[key]
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
        rows.append(
            [name, number(c), number(se), number(t, 4), p_value(p), number(low), number(high)]
        )
    lines = [f"Linear regression of {model['target']} on {model['input']}", ""]
    lines += _table(rows)
    undefined = exact.get("undefined", {})

    def measure(key: str) -> str:
        why = undefined.get(key)
        return f"- ({why})" if exact[key] is None and why else number(exact[key])

    f_line = f"{number(exact['f_stat'])} on {exact['df_model']} and {exact['df_resid']} df"
    if exact["f_stat"] is None and undefined.get("f_stat"):
        f_line = f"- ({undefined['f_stat']})"
    else:
        f_line = f"{f_line}, p {p_value(exact['f_p'])}"
    measures = [
        ("observations", str(exact["n"])),
        ("R²" if exact.get("fit_intercept", True) else "R² (uncentered)", measure("r2")),
        ("adjusted R²", measure("adj_r2")),
        ("F", f_line),
        ("residual SD", number(exact.get("residual_sd"))),
        ("condition number", number(exact.get("condition_number"), 3)),
        ("aliased", ", ".join(exact.get("aliased", [])) or "none"),
    ]
    width = max(len(name) for name, _ in measures)
    lines += [""] + [f"{name.ljust(width)}  {value}" for name, value in measures]
    for warning in exact.get("warnings", []):
        lines.append(f"warning: {warning}")
    if model.get("skipped_rows", {}).get("count"):
        lines.append(f"skipped rows: {model['skipped_rows']['count']}")
    return "\n".join(lines) + "\n"
