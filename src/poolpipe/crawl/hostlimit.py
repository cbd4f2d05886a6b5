"""Politeness shared by every process of a crawl: requests in flight per host, and a delay
between the starts of two requests to one host.

The table lives in shared memory made before the pool's workers are forked. Hosts are
spread over STRIPES slots by a CRC of their name; two hosts that share a slot share its
limit, which can only make the crawl more polite, never less.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import zlib

STRIPES = 4096


class HostLimiter:
    """At most `per_host` requests in flight to a host, starts at least `delay` s apart."""

    def __init__(self, per_host: int, delay: float = 0.0, stripes: int = STRIPES) -> None:
        ctx = mp.get_context("fork")
        self.per_host = per_host
        self.delay = delay
        self.stripes = stripes
        self._lock = ctx.Lock()
        self._count = ctx.RawArray("i", stripes)
        self._next = ctx.RawArray("d", stripes)

    def slot(self, host: str) -> int:
        """The table slot of a host."""
        return zlib.crc32(host.encode("utf-8", "surrogatepass")) % self.stripes

    def try_acquire(self, slot: int) -> float:
        """Take a place for a request to the host in `slot`: 0.0 if taken, else seconds to wait
        before asking again (a guess when the host is full)."""
        now = time.monotonic()
        with self._lock:
            if self._count[slot] >= self.per_host:
                return max(self._next[slot] - now, 0.005)
            if self._next[slot] > now:
                return self._next[slot] - now
            self._count[slot] += 1
            self._next[slot] = now + self.delay
            return 0.0

    def release(self, slot: int) -> None:
        """Give the place back."""
        with self._lock:
            if self._count[slot] > 0:
                self._count[slot] -= 1

    def in_flight(self, slot: int) -> int:
        """Requests in flight to the host in `slot` (for tests)."""
        with self._lock:
            return self._count[slot]
