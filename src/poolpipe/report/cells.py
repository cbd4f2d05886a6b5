"""The one text form of a value, shared by the CSV, the page and the summary."""

from __future__ import annotations

MISSING = "missing"
"""How the page shows a measurement that was not taken (the CSV leaves the cell empty)."""


def cell(value: object) -> str:
    """A value as the CSV writes it: empty for None, six significant digits for a float."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def shown(value: object) -> str:
    """A value as the page shows it: the CSV's text, or 'missing'."""
    text = cell(value)
    return text if text else MISSING
