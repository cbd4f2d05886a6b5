"""Waits between retries: exponential, capped, and shortened by a random share (jitter)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """base_s * 2**(n - 1) seconds before retry n, at most max_s, less up to `jitter` of it."""

    base_s: float
    max_s: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name in ("base_s", "max_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"backoff {name} must be a finite number of at least 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("backoff jitter must be from 0 to 1")

    def ceiling(self, attempt: int) -> float:
        """The wait before retry `attempt` (1 for the first) with no jitter."""
        if attempt < 1:
            raise ValueError(f"a retry is numbered from 1, not {attempt}")
        return min(self.max_s, self.base_s * 2.0 ** min(attempt - 1, 1023))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retry `attempt`: the ceiling, less a random share of up to jitter."""
        share = self.jitter * (rng or random).random() if self.jitter else 0.0
        return self.ceiling(attempt) * (1.0 - share)
