"""Exact integers of any size to and from decimal text, in subquadratic time.

Python 3.11 turns an int of n digits into text (and back) in time n**2: a 4 MiB line of
digits would take minutes. Both directions here split the number in halves, recursively:
text -> int joins the halves with a cached power of 5 and a shift (Karatsuba products),
int -> text builds a Decimal from binary halves with cached powers of 2 (libmpdec's
number-theoretic products), whose text is then written in linear time.
"""

from __future__ import annotations

import sys

SMALL_DIGITS = 3000
"""Up to this many digits Python's own conversion is quick (and within its 4300-digit limit)."""

_SMALL_BITS = 9000
_LEAF_BITS = 128


def decimal_to_int(text: str | bytes) -> int:
    """The exact int of an ASCII [+-]digits string of any length."""
    if len(text) <= SMALL_DIGITS:
        return int(text)
    if isinstance(text, bytes):
        text = text.decode("ascii")
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    powers: dict[int, int] = {}

    def five_to(w: int) -> int:
        if w not in powers:
            half = w >> 1
            powers[w] = 5**w if w <= SMALL_DIGITS else five_to(half) * five_to(w - half)
        return powers[w]

    def inner(a: int, b: int) -> int:
        if b - a <= SMALL_DIGITS:
            return int(digits[a:b])
        mid = (a + b + 1) >> 1
        width = b - mid
        return inner(mid, b) + ((inner(a, mid) * five_to(width)) << width)

    return sign * inner(0, len(digits))


def int_to_decimal(n: int) -> str:
    """The decimal text of an int of any size."""
    if abs(n).bit_length() <= _SMALL_BITS:
        saved = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            return str(n)
        finally:
            sys.set_int_max_str_digits(saved)
    import decimal  # loaded on first use: few sums pass 9000 bits

    powers: dict[int, decimal.Decimal] = {}

    def two_to(w: int) -> decimal.Decimal:
        if w not in powers:
            half = w >> 1
            powers[w] = (
                decimal.Decimal(2) ** w if w <= _LEAF_BITS else two_to(half) * two_to(w - half)
            )
        return powers[w]

    def inner(m: int, w: int) -> decimal.Decimal:
        if w <= _LEAF_BITS:
            return decimal.Decimal(m)
        half = w >> 1
        high = m >> half
        low = m - (high << half)
        return inner(low, half) + inner(high, w - half) * two_to(half)

    with decimal.localcontext() as ctx:
        ctx.prec = decimal.MAX_PREC
        ctx.Emax = decimal.MAX_EMAX
        ctx.Emin = decimal.MIN_EMIN
        ctx.traps[decimal.Inexact] = True
        magnitude = abs(n)
        text = str(inner(magnitude, magnitude.bit_length()))
    return "-" + text if n < 0 else text
