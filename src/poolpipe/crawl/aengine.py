"""The crawl engine on an asyncio loop: every URL of a piece gets one row, in input order, and
no URL can hold the crawl up for longer than its deadline.

An AsyncEngine runs in one worker process with its share of the total concurrency as tasks on
one event loop (poolpipe.crawl.afetch), rather than as threads: a request in flight costs a
task and a buffer, not a thread that the GIL hands around. Its scheduling is the threaded
engine's (schedule.Scheduler): it reads the piece's lines, holds at most WINDOW of them, starts
URLs as the per-host limits (shared by all workers) allow, retries with backoff, and yields the
rows in input order. run() is a plain generator: the loop runs while it waits for answers, and
stands still while the caller writes rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from functools import partial

from poolpipe.crawl.afetch import AsyncFetcher
from poolpipe.crawl.fetch import FetchOutcome, error
from poolpipe.crawl.guard import Guard
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.kinds import ErrorKind
from poolpipe.crawl.previous import Previous
from poolpipe.crawl.robots import RobotsCache, RobotsStore
from poolpipe.crawl.rows import PageRow
from poolpipe.crawl.schedule import Scheduler, UrlJob
from poolpipe.crawl.settings import CrawlSettings

STOP_S = 5.0
"""At the end (or on an error), how long the cancelled attempts have to wind down."""


class AsyncEngine(Scheduler):
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
        super().__init__(settings, limiter=limiter, window=window, previous=previous)
        self.concurrency = max(1, concurrency)
        store = RobotsStore(robots_dir) if robots_dir else None
        self.fetcher = AsyncFetcher(
            settings,
            RobotsCache(settings.user_agent, store=store),
            resolver=self.resolver,
            crawl_delay=self._crawl_delay,
            sending=self._sending,
            spool_dir=spool_dir,
        )
        self._idle = self.concurrency
        self._tasks: set[asyncio.Task] = set()
        self._landed: list[tuple[UrlJob, FetchOutcome]] = []
        self._wake: asyncio.Future[None] | None = None
        self._loop = asyncio.new_event_loop()

    def run(self, items: Iterable[tuple[int, str] | PageRow]) -> Iterator[PageRow]:
        """Crawl (line, url) items; pass PageRows through; yield every row in input order."""
        try:
            yield from self._schedule(iter(items))
        finally:
            self._stop()

    def _start(self, job: UrlJob, now: float) -> None:
        guard = self._begin(job, now)
        loop = self._loop
        task = loop.create_task(self.fetcher.attempt(job.url, guard, job.previous, job.parsed))
        self._tasks.add(task)
        # loop.time() is time.monotonic(), the clock of the guard's deadline
        job.handle = loop.call_at(guard.deadline, _expire, guard, task)
        task.add_done_callback(partial(self._land, job))

    def _land(self, job: UrlJob, task: asyncio.Task) -> None:
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
            self._loop.run_until_complete(self._sleep(self._due(hint)))
        landed, self._landed = self._landed, []
        for job, outcome in landed:
            self._finish(job, outcome)

    async def _sleep(self, timeout: float) -> None:
        # An attempt that ended as the loop last stopped lands (_land) in the loop's first turn
        # here, before this task's first step: it found no wake to set, so look for it now.
        if not timeout or self._landed:
            await asyncio.sleep(0)
            return
        self._wake = wake = self._loop.create_future()
        timer = self._loop.call_later(timeout, _settle, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    def _finish(self, job: UrlJob, outcome: FetchOutcome) -> None:
        if outcome.fatal is not None:
            raise outcome.fatal
        self._settle(job, outcome)

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
