"""The crawl engine on an asyncio loop: every URL of a piece gets one row, in input order, and
no URL can hold the crawl up for longer than its deadline.

An AsyncEngine runs in one worker process with its share of the total concurrency as tasks on
one event loop (poolpipe.crawl.afetch), rather than as threads: a request in flight costs a
task and a buffer, not a thread that the GIL hands around. The scheduling is engine.Engine's:
it reads the piece's lines, holds at most WINDOW of them, starts URLs as the per-host limits
(shared by all workers) allow, retries with backoff, and yields the rows in input order.
run() is a plain generator: the loop runs while it waits for answers, and stands still while
the caller writes rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Iterable, Iterator
from functools import partial

from poolpipe.crawl.afetch import AsyncFetcher
from poolpipe.crawl.engine import (
    ADMIT_BATCH,
    WINDOW,
    EngineStats,
    Job,
    backoff,
    job_row,
)
from poolpipe.crawl.fetch import FetchOutcome, check_url, error
from poolpipe.crawl.guard import Guard, Resolver
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.kinds import ErrorKind
from poolpipe.crawl.previous import Previous
from poolpipe.crawl.robots import RobotsCache, RobotsStore
from poolpipe.crawl.rows import PageRow
from poolpipe.crawl.settings import CrawlSettings

STOP_S = 5.0
"""At the end (or on an error), how long the cancelled attempts have to wind down."""


class AsyncEngine:
    """One worker's crawler: up to `concurrency` attempts at once on one event loop."""

    def __init__(
        self,
        settings: CrawlSettings,
        *,
        concurrency: int,
        limiter: HostLimiter,
        window: int | None = None,
        previous: dict[str, Previous] | None = None,
        robots_dir: str = "",
        spool_dir: str | None = None,
    ) -> None:
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.limiter = limiter
        self.window = window or WINDOW
        self.previous = previous or {}
        self.resolver = Resolver(settings.hosts)
        self.internal = () if settings.internal_redirects else settings.networks()
        store = RobotsStore(robots_dir) if robots_dir else None
        self.fetcher = AsyncFetcher(
            settings,
            RobotsCache(settings.user_agent, store=store),
            resolver=self.resolver,
            crawl_delay=self._crawl_delay,
            sending=self._sending,
            spool_dir=spool_dir,
        )
        self.stats = EngineStats()
        self._idle = self.concurrency
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task] = set()
        self._landed: list[tuple[Job, FetchOutcome]] = []
        self._delayed: list[tuple[float, int, Job]] = []
        self._queues: dict[str, deque[Job]] = {}
        self._hosts: deque[str] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._loop = asyncio.new_event_loop()

    def run(self, items: Iterable[tuple[int, str] | PageRow]) -> Iterator[PageRow]:
        """Crawl (line, url) items; pass PageRows through; yield every row in input order."""
        try:
            yield from self._schedule(iter(items))
        finally:
            self._stop()

    def _schedule(self, items: Iterator[tuple[int, str] | PageRow]) -> Iterator[PageRow]:
        window: deque[Job] = deque()
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
            more = not exhausted and len(window) < self.window
            self._wait(0.0 if more else hint)

    def _admit(self, item: tuple[int, str] | PageRow) -> Job:
        if isinstance(item, PageRow):
            job = Job(item.line, item.url)
            job.row = item
            return job
        job = Job(*item)
        parsed, bad = check_url(job.url, self.settings.schemes)
        if bad is not None:
            job.row = job_row(job, bad, None)
            return job
        assert parsed is not None and parsed.host is not None
        job.host = parsed.host
        job.parsed = parsed
        job.previous = self.previous.get(job.url)
        job.slot = self.limiter.slot(parsed.host)
        self._enqueue(job)
        return job

    def _enqueue(self, job: Job) -> None:
        waiting = self._queues.get(job.host)
        if waiting is None:
            waiting = self._queues[job.host] = deque()
            self._hosts.append(job.host)
        waiting.append(job)

    def _dispatch(self, now: float) -> float | None:
        """Start jobs while attempts are free, hosts in turn; the least wait a full host asks."""
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

    def _start(self, job: Job, now: float) -> None:
        job.attempts += 1
        self.stats.attempts += 1
        if job.attempts == 1:
            job.started = now
        job.guard = guard = Guard(now + self.settings.deadline, self.resolver, self.internal)
        self._idle -= 1
        loop = self._loop
        task = loop.create_task(self.fetcher.attempt(job.url, guard, job.previous, job.parsed))
        self._tasks.add(task)
        # loop.time() is time.monotonic(), the clock of the guard's deadline
        job.handle = loop.call_at(guard.deadline, _expire, guard, task)
        task.add_done_callback(partial(self._land, job))

    def _land(self, job: Job, task: asyncio.Task) -> None:
        """An attempt's task ended: its outcome waits for the scheduler."""
        self._tasks.discard(task)
        if job.handle is not None:
            job.handle.cancel()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            outcome = task.result()
        else:
            outcome = error(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")
        self._landed.append((job, outcome))
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _wait(self, hint: float | None) -> None:
        """Run the loop until an attempt ends or the next retry or host slot is due (hint 0:
        one turn of the loop, for the I/O that is ready)."""
        if not self._landed:
            due = [hint] if hint is not None else []
            if self._delayed:
                due.append(self._delayed[0][0] - time.monotonic())
            timeout = max(0.0, min([*due, 1.0]))
            self._loop.run_until_complete(self._sleep(timeout))
        landed, self._landed = self._landed, []
        for job, outcome in landed:
            self._finish(job, outcome)

    async def _sleep(self, timeout: float) -> None:
        if not timeout:
            await asyncio.sleep(0)
            return
        self._wake = wake = self._loop.create_future()
        timer = self._loop.call_later(timeout, _settle, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    def _finish(self, job: Job, outcome: FetchOutcome) -> None:
        if outcome.fatal is not None:
            raise outcome.fatal
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
        """A host's robots.txt asks for this Crawl-delay (called by a robots thread)."""
        self.limiter.crawl_delay(self.limiter.slot(host), seconds)

    def _sending(self, host: str) -> None:
        """A request to host goes out now: a host's delay counts from here, not from when its
        place was taken (robots.txt, read in a thread, may have been read in between)."""
        self.limiter.started(self.limiter.slot(host))

    def _stop(self) -> None:
        """Cancel what is still in flight, close the connections and the loop."""
        loop = self._loop
        if loop.is_closed():
            return
        try:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                ending = asyncio.wait(list(self._tasks), timeout=STOP_S)
                loop.run_until_complete(ending)
            self.fetcher.close()
            # one more turn: the aborted transports let go of their sockets
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()


def _expire(guard: Guard, task: asyncio.Task) -> None:
    """An attempt's deadline: cut its sockets (a robots.txt thread's too), end its task."""
    guard.cut()
    task.cancel()


def _settle(future: asyncio.Future[None]) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        future.set_result(None)
