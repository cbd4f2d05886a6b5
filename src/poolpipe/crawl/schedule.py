"""What both crawl engines share: a worker's window of URL lines, read in input order and
written back in it, the per-host queues taken in turn under the limits that every worker shares,
retries with backoff, and each line's row.

An engine (engine.Engine with threads, aengine.AsyncEngine on an asyncio loop) adds how an
attempt starts (_start), how the scheduler waits for attempts to end (_wait), and any watch it
keeps over them (_tick); it hands each ended attempt to _settle.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from poolpipe.crawl.fetch import FetchOutcome, check_url
from poolpipe.crawl.guard import Guard, Resolver
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.previous import Previous
from poolpipe.crawl.rows import NOT_MODIFIED, PageRow
from poolpipe.crawl.settings import CrawlSettings

if TYPE_CHECKING:
    import asyncio

    from urllib3.util import Url

WINDOW = 32_768
"""Lines a worker holds at once (admitted but not yet written): its memory bound."""

ADMIT_BATCH = 256
"""Lines the scheduler reads between two dispatches: the first requests start after a few
lines, not after a whole window of them."""


class UrlJob:
    """One URL line on its way through a worker."""

    __slots__ = (
        "attempts",
        "guard",
        "handle",
        "host",
        "line",
        "parsed",
        "previous",
        "row",
        "slot",
        "started",
        "token",
        "url",
    )

    def __init__(self, line: int, url: str) -> None:
        self.line = line
        self.url = url
        self.host = ""
        self.slot = 0
        self.attempts = 0
        self.started = 0.0
        self.guard: Guard | None = None
        self.token = 0
        self.row: PageRow | None = None
        self.previous: Previous | None = None
        self.parsed: Url | None = None
        self.handle: asyncio.TimerHandle | None = None


@dataclass(kw_only=True)
class EngineStats:
    """What a worker's engine did (for the log)."""

    rows: int = 0
    bytes: int = 0
    attempts: int = 0
    retries: int = 0
    abandoned: int = 0

    def add(self, other: EngineStats) -> None:
        """Add another engine's counts to these."""
        for f in fields(EngineStats):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Scheduler:
    """The scheduling both engines share (see the module's docstring)."""

    def __init__(
        self,
        settings: CrawlSettings,
        *,
        limiter: HostLimiter,
        window: int | None,
        previous: dict[str, Previous] | None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.window = window or WINDOW
        self.previous = previous or {}
        self.resolver = Resolver(settings.hosts)
        self.internal = () if settings.internal_redirects else settings.networks()
        self.stats = EngineStats()
        self._seq = itertools.count()
        self._delayed: list[tuple[float, int, UrlJob]] = []
        self._queues: dict[str, deque[UrlJob]] = {}
        self._hosts: deque[str] = deque()
        self._idle = 0

    def _schedule(self, items: Iterator[tuple[int, str] | PageRow]) -> Iterator[PageRow]:
        window: deque[UrlJob] = deque()
        exhausted = False
        while True:
            for _ in range(ADMIT_BATCH):
                if exhausted or len(window) >= self.window:
                    break
                item = next(items, None)
                if item is None:
                    exhausted = True
                    break
                window.append(self._admit(item))
            while window and window[0].row is not None:
                row = window.popleft().row
                assert row is not None
                self.stats.rows += 1
                self.stats.bytes += row.bytes
                yield row
            if exhausted and not window:
                return
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                self._enqueue(heapq.heappop(self._delayed)[2])
            hint = self._dispatch(now) if self._idle and self._hosts else None
            self._tick(now)
            more = not exhausted and len(window) < self.window
            self._wait(0.0 if more else hint)

    def _admit(self, item: tuple[int, str] | PageRow) -> UrlJob:
        if isinstance(item, PageRow):
            job = UrlJob(item.line, item.url)
            job.row = item
            return job
        job = UrlJob(*item)
        parsed, bad = check_url(job.url, self.settings.schemes)
        if bad is not None:
            job.row = job_row(job, bad, None)
            return job
        assert parsed is not None and parsed.host is not None
        job.host = parsed.host
        job.previous = self.previous.get(job.url)
        job.slot = self.limiter.slot(parsed.host)
        self._enqueue(job)
        return job

    def _enqueue(self, job: UrlJob) -> None:
        waiting = self._queues.get(job.host)
        if waiting is None:
            waiting = self._queues[job.host] = deque()
            self._hosts.append(job.host)
        waiting.append(job)

    def _dispatch(self, now: float) -> float | None:
        """Start jobs on idle threads, hosts in turn; the least wait asked by a full host."""
        hint: float | None = None
        progress = True
        while self._idle and self._hosts and progress:
            progress = False
            for _ in range(len(self._hosts)):
                if not self._idle:
                    break
                host = self._hosts.popleft()
                waiting = self._queues[host]
                wait = self.limiter.try_acquire(waiting[0].slot)
                if wait == 0.0:
                    self._start(waiting.popleft(), now)
                    progress = True
                else:
                    hint = wait if hint is None else min(hint, wait)
                if waiting:
                    self._hosts.append(host)
                else:
                    del self._queues[host]
        return hint

    def _start(self, job: UrlJob, now: float) -> None:
        raise NotImplementedError

    def _wait(self, hint: float | None) -> None:
        raise NotImplementedError

    def _tick(self, now: float) -> None:
        """Look over the attempts in flight (each turn of the scheduler)."""

    def _begin(self, job: UrlJob, now: float) -> Guard:
        """Count a job's new attempt; its guard."""
        job.attempts += 1
        self.stats.attempts += 1
        if job.attempts == 1:
            job.started = now
        job.guard = Guard(now + self.settings.deadline, self.resolver, self.internal)
        self._idle -= 1
        return job.guard

    def _settle(self, job: UrlJob, outcome: FetchOutcome) -> None:
        """An attempt ended: its place is free; the job waits for a retry or has its row."""
        self._idle += 1
        self.limiter.release(job.slot)
        now = time.monotonic()
        if outcome.status is not None and job.guard is not None:
            latency = now - (job.guard.deadline - self.settings.deadline)
            self.limiter.observe(job.slot, latency, ok=outcome.status < 400)
        if outcome.retryable and job.attempts <= self.settings.retries:
            self.stats.retries += 1
            delay = backoff(self.settings, job.attempts, outcome.retry_after)
            heapq.heappush(self._delayed, (now + delay, next(self._seq), job))
            return
        job.row = job_row(job, outcome, now)

    def _crawl_delay(self, host: str, seconds: float) -> None:
        """A host's robots.txt asks for this Crawl-delay (called by a fetch thread)."""
        self.limiter.crawl_delay(self.limiter.slot(host), seconds)

    def _due(self, hint: float | None, *more: float) -> float:
        """Seconds the scheduler may wait: until the hint, a retry or another time is due (at
        most 1 s)."""
        now = time.monotonic()
        due = [hint] if hint is not None else []
        if self._delayed:
            due.append(self._delayed[0][0] - now)
        return max(0.0, min([*due, *(t - now for t in more), 1.0]))


def backoff(settings: CrawlSettings, attempt: int, retry_after: float | None) -> float:
    """Seconds before retry number `attempt`: Retry-After if the server sent one, else
    exponential; never more than backoff_max."""
    wait = settings.backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
    return min(wait, settings.backoff_max)


def job_row(job: UrlJob, outcome: FetchOutcome, now: float | None) -> PageRow:
    """The row of a job that ended with outcome (now: when it ended)."""
    elapsed = None if now is None or not job.attempts else round((now - job.started) * 1000)
    known = job.previous
    if outcome.status == 304 and known is not None and not outcome.error:
        return PageRow(
            line=job.line,
            url=job.url,
            final_url=outcome.final_url,
            status=304,
            elapsed_ms=elapsed,
            attempts=job.attempts,
            detail=NOT_MODIFIED,
            content_type=outcome.content_type or known.content_type,
            sha256=known.sha256,
            etag=outcome.etag or known.etag,
            last_modified=outcome.last_modified or known.last_modified,
            record=outcome.record,
        )
    return PageRow(
        line=job.line,
        url=job.url,
        final_url=outcome.final_url,
        status=outcome.status,
        bytes=outcome.bytes,
        elapsed_ms=elapsed,
        attempts=job.attempts,
        error=outcome.error,
        detail=outcome.detail,
        content_type=outcome.content_type,
        sha256=outcome.sha256,
        etag=outcome.etag,
        last_modified=outcome.last_modified,
        record=outcome.record,
    )
