"""The one text form of a value, shared by the CSV, the page and the summary."""

from __future__ import annotations

MISSING = ""
"""How the page shows a measurement that was not taken: an empty cell, as in the CSV."""


def cell(value: object) -> str:
    """A value as the CSV writes it: empty for None, six significant digits for a float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def shown(value: object) -> str:
    """A value as the page shows it: empty for None, three significant figures for a float."""
    if isinstance(value, float):
        return sig3(value)
    return cell(value)


def sig3(value: float) -> str:
    """A number to three significant figures, without an exponent below a billion."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e9:
        text = f"{float(f'{value:.3g}'):,.6f}".rstrip("0").rstrip(".")
        return text.replace(",", "\u2009") if abs(value) >= 1e4 else text.replace(",", "")
    return f"{value:.3g}"
