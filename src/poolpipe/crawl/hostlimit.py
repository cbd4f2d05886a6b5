"""Politeness shared by every process of a crawl: requests in flight per host, and a delay
between the starts of two requests to one host.

The table lives in shared memory made before the pool's workers are forked. Hosts are
spread over STRIPES slots by a CRC of their name; two hosts that share a slot share its
limit, which can only make the crawl more polite, never less.

A slot's delay is the largest of three, each bounded: the settings' per_host_delay; the
host's robots.txt Crawl-delay, capped at crawl_delay_max; and, with autothrottle on, a delay
adapted to the host's latency as Scrapy's AutoThrottle does (each response moves it halfway
to latency / target_concurrency; an error answer never lowers it), capped at max_delay.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import zlib
from dataclasses import dataclass

STRIPES = 4096


@dataclass(frozen=True, kw_only=True)
class Throttle:
    """How far the delay of a host may follow robots.txt and its latency."""

    crawl_delay_max: float = 0.0
    autothrottle: bool = False
    target_concurrency: float = 1.0
    max_delay: float = 0.0


class HostLimiter:
    """At most `per_host` requests in flight to a host, starts at least `delay` s apart (more
    if its robots.txt or its latency asks for it, within the throttle's bounds)."""

    def __init__(
        self,
        per_host: int,
        delay: float = 0.0,
        stripes: int = STRIPES,
        throttle: Throttle | None = None,
    ) -> None:
        ctx = mp.get_context("fork")
        self.per_host = per_host
        self.delay = delay
        self.stripes = stripes
        self.throttle = throttle or Throttle()
        self._lock = ctx.Lock()
        self._count = ctx.RawArray("i", stripes)
        self._last = ctx.RawArray("d", stripes)
        self._robots = ctx.RawArray("d", stripes)
        self._auto = ctx.RawArray("d", stripes)

    def slot(self, host: str) -> int:
        """The table slot of a host."""
        return zlib.crc32(host.encode("utf-8", "surrogatepass")) % self.stripes

    def delay_of(self, slot: int) -> float:
        """The least time between the starts of two requests to the host in `slot`."""
        return max(self.delay, self._robots[slot], self._auto[slot])

    def try_acquire(self, slot: int) -> float:
        """Take a place for a request to the host in `slot`: 0.0 if taken, else seconds to wait
        before asking again (a guess when the host is full)."""
        now = time.monotonic()
        with self._lock:
            due = self._last[slot] + self.delay_of(slot) if self._last[slot] else now
            if self._count[slot] >= self.per_host:
                return max(due - now, 0.005)
            if due > now:
                return due - now
            self._count[slot] += 1
            self._last[slot] = now
            return 0.0

    def started(self, slot: int) -> None:
        """A request to the host in `slot`, given its place earlier, starts now: the next
        start is counted from now (a later start only ever makes the crawl more polite)."""
        if not self.delay_of(slot):
            return
        with self._lock:
            self._last[slot] = max(self._last[slot], time.monotonic())

    def release(self, slot: int) -> None:
        """Give the place back."""
        with self._lock:
            if self._count[slot] > 0:
                self._count[slot] -= 1

    def crawl_delay(self, slot: int, seconds: float) -> None:
        """Take a robots.txt Crawl-delay for the host in `slot`, capped at crawl_delay_max.

        The caller's request starts now, after reading robots.txt (or waiting for another
        process to read it), so the next start is counted from now, not from its place taken.
        """
        with self._lock:
            self._robots[slot] = min(max(seconds, 0.0), self.throttle.crawl_delay_max)
            self._last[slot] = max(self._last[slot], time.monotonic())

    def observe(self, slot: int, latency: float, ok: bool) -> None:
        """Adapt the host's delay to a response's latency (autothrottle only)."""
        t = self.throttle
        if not t.autothrottle:
            return
        target = max(latency, 0.0) / t.target_concurrency
        with self._lock:
            now = self._auto[slot]
            if ok or target > now:
                self._auto[slot] = min((now + target) / 2, t.max_delay)

    def in_flight(self, slot: int) -> int:
        """Requests in flight to the host in `slot` (for tests)."""
        with self._lock:
            return self._count[slot]
