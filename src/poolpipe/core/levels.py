"""How a confidence interval's level is written, by the train summary and the report alike."""

from __future__ import annotations

from decimal import Decimal, localcontext


def interval_level(alpha: float) -> str:
    """A confidence interval's level for 0 < alpha < 1, exact to alpha's digits: "95%",
    "99.96%"; "1-1e-300" where that takes more than 12 digits."""
    with localcontext(prec=800):  # exact: alpha's digits reach 1e-324 at most
        text = format(((1 - Decimal(repr(alpha))) * 100).normalize(), "f")
    return f"{text}%" if len(text.replace(".", "")) <= 12 else f"1-{alpha!r}"
