"""The scanner without a compiler: numpy and Python, the same answers as the C extension _scan.

scan(buffer, max_examples) has _scan.scan's contract (see _scan.c): lines of a sign and 1 to 18
digits, with or without a '\\r', are parsed column by column with numpy; every other line (blank,
padded with spaces or tabs, long, bad) goes through the line rule in Python.
"""

from __future__ import annotations

import re

import numpy as np

MAX_FAST_DIGITS = 18
"""Longer numbers are handed back as spans, as the C scanner does."""

BATCH_BYTES = 256 << 10
"""Lines are parsed in batches of about this many bytes, so numpy's arrays stay small."""

_HALF = 9
_NUMBER = re.compile(rb"[+-]?([0-9]+)")
_BLANKS = b" \t"
_LOW64 = (1 << 64) - 1

Span = tuple[int, int, int]
Scan = tuple[int, int, int, int, int, int, list[Span], list[Span]]


def scan(data: bytes | bytearray | memoryview, max_examples: int) -> Scan:
    """Scan complete lines of integers: (hi, lo, numbers, blanks, lines, bad, examples, longs)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    size = len(arr)
    if size == 0:
        return 0, 0, 0, 0, 0, 0, [], []
    ends = np.flatnonzero(arr == ord("\n"))
    if arr[-1] != ord("\n"):
        ends = np.append(ends, size)
    starts = np.concatenate(([0], ends[:-1] + 1))
    cuts = np.searchsorted(ends, np.arange(BATCH_BYTES, size, BATCH_BYTES)).tolist()
    total = numbers = 0
    state = _Rest(data, max_examples)
    for first, stop in zip([0, *cuts], [*cuts, len(ends)], strict=True):
        if first == stop:
            continue
        offset = int(starts[first])
        window = arr[offset : int(ends[stop - 1])]
        simple, batch_total, batch_numbers = _simple_lines(
            window, starts[first:stop] - offset, ends[first:stop] - offset
        )
        total += batch_total
        numbers += batch_numbers
        for index in (first + np.flatnonzero(~simple)).tolist():
            state.line(index, int(starts[index]), int(ends[index]))
    total += state.total
    return (
        total >> 64,
        total & _LOW64,
        numbers + state.numbers,
        state.blanks,
        len(ends),
        state.bad,
        state.examples,
        state.longs,
    )


def _simple_lines(
    arr: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, int, int]:
    """Which lines are a sign and 1..18 digits (and a '\\r' or not); their exact sum and count.

    starts and ends are offsets into arr, which ends where the last line does (its '\\n' not in).
    """
    if len(arr) == 0:
        return np.zeros(len(starts), dtype=bool), 0, 0
    last = np.maximum(ends - 1, 0)
    content_end = ends - ((ends > starts) & (arr[last] == ord("\r")))
    first = arr[np.minimum(starts, len(arr) - 1)]
    has_text = content_end > starts
    negative = has_text & (first == ord("-"))
    signed = negative | (has_text & (first == ord("+")))
    digit_start = starts + signed
    digits = content_end - digit_start
    is_digit = (arr - np.uint8(ord("0"))) < 10
    count_type = np.int32 if len(arr) < 2**31 else np.int64
    seen = np.concatenate(([0], np.cumsum(is_digit, dtype=count_type)))
    simple = (digits >= 1) & (digits <= MAX_FAST_DIGITS)
    simple &= seen[content_end] - seen[digit_start] == digits
    count = int(simple.sum())
    if not count:
        return simple, 0, 0
    low, high = _columns(arr, content_end[simple], digits[simple])
    sign = np.where(negative[simple], -1, 1)
    total = int((high * sign).sum()) * 10**_HALF + int((low * sign).sum())
    return simple, total, count


def _columns(
    arr: np.ndarray, ends: np.ndarray, digits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each number's low and high 9 digits, read one digit position at a time from its end."""
    low = np.zeros(len(ends), dtype=np.int64)
    high = np.zeros(len(ends), dtype=np.int64)
    for k in range(int(digits.max())):
        present = digits > k
        value = np.where(present, arr[np.where(present, ends - 1 - k, 0)], ord("0"))
        value = value.astype(np.int64) - ord("0")
        if k < _HALF:
            low += value * 10**k
        else:
            high += value * 10 ** (k - _HALF)
    return low, high


class _Rest:
    """The lines the columns did not take, one at a time by the line rule."""

    def __init__(self, data: bytes | bytearray | memoryview, max_examples: int) -> None:
        self.data = memoryview(data)
        self.max_examples = max_examples
        self.total = self.numbers = self.blanks = self.bad = 0
        self.examples: list[Span] = []
        self.longs: list[Span] = []

    def line(self, index: int, start: int, end: int) -> None:
        """Classify the line [start, end) (no '\\n') and count it."""
        text = bytes(self.data[start:end])
        body = text[:-1] if text.endswith(b"\r") else text
        stripped = body.strip(_BLANKS)
        if not stripped:
            self.blanks += 1
            return
        match = _NUMBER.fullmatch(stripped)
        if match is None:
            self.bad += 1
            if self.bad <= self.max_examples:
                self.examples.append((index, start, end))
            return
        if len(match.group(1)) > MAX_FAST_DIGITS:
            left = start + len(body) - len(body.lstrip(_BLANKS))
            self.longs.append((index, left, left + len(stripped)))
            return
        self.total += int(stripped)
        self.numbers += 1
