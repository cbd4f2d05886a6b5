"""A guard that fails a test, rather than letting it hang, once it runs too long."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Hung(Exception):
    """Raised by the SIGALRM guard when a test ran past its time."""


@contextmanager
def time_guard(seconds: int) -> Iterator[None]:
    """Fail (never hang) the block if it runs past `seconds`."""

    def _fire(_signum: int, _frame: object) -> None:
        raise Hung(f"test ran past {seconds}s")

    saved = signal.signal(signal.SIGALRM, _fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, saved)
