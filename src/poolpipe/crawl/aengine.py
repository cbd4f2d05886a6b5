"""The crawl engine on an asyncio loop: every URL of a piece gets one row, in input order, and
no URL can hold the crawl up for longer than its deadline.

An AsyncEngine runs in one worker process with its share of the total concurrency as tasks on
one event loop (poolpipe.crawl.afetch), rather than as threads: a request in flight costs a
task and a buffer, not a thread that the GIL hands around. Its scheduling is the threaded
engine's (schedule.Scheduler): it reads the piece's lines, holds at most WINDOW of them, starts
URLs as the per-host limits (shared by all workers) allow, retries with backoff, and yields the
rows in input order. run() is a plain generator: the loop runs while it waits for answers, and
stands still while the caller writes rows.

An attempt that ends is settled on the loop, and the next URL starts there at once, in the same
task: its request goes out in the same turn of the loop as the answer that freed its place,
not a turn later behind every other answer of that turn. The loop stops for the scheduler (rows
to write, lines to read, retries due) at most BATCH_S after an answer, so each stop serves many
answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator

from poolpipe.crawl.afetch import AsyncFetcher
from poolpipe.crawl.fetch import error
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

BATCH_S = 0.002
"""After an answer lands, how long the loop goes on before it stops for the scheduler: the
answers of that time are written in one stop (new attempts start on the loop meanwhile)."""


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
        self._flying: set[UrlJob] = set()
        """Jobs whose attempt holds a place at its host (shared by every worker) and has not
        yet ended."""
        self._fatal: list[BaseException] = []
        self._halt: asyncio.TimerHandle | None = None
        self._heir: list[tuple[UrlJob, Guard]] | None = None
        """While an ended attempt dispatches: the first job it starts, which its task runs next."""
        self._running = False
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
        heir = self._heir
        if heir is not None and not heir:
            heir.append((job, guard))  # the ended attempt's task runs it next
            task = asyncio.current_task(loop)
            assert task is not None
        else:
            task = loop.create_task(self._attempts(job, guard))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._flying.add(job)
        # loop.time() is time.monotonic(), the clock of the guard's deadline
        job.handle = loop.call_at(guard.deadline, _expire, guard, task)

    async def _attempts(self, job: UrlJob, guard: Guard) -> None:
        """Attempts as one task: each is fetched, then settled here on the loop, and the first
        URL its freed place lets start is the task's next (a cancelled one never lands: the
        deadline's cut ends the attempt with its own outcome)."""
        while True:
            try:
                outcome = await self.fetcher.attempt(job.url, guard, job.previous, job.parsed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = error(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")
            if job.handle is not None:
                job.handle.cancel()
            if not self._running:
                return  # the crawl is ending (_stop): nothing more lands
            heir: list[tuple[UrlJob, Guard]] = []
            try:
                if outcome.fatal is not None:
                    raise outcome.fatal
                self._flying.discard(job)
                self._settle(job, outcome)
                if self._idle and self._hosts:
                    self._heir = heir
                    self._dispatch(time.monotonic())
            except Exception as exc:  # raised by _wait, in the scheduler, not lost in a task
                self._fatal.append(exc)
                self._loop.stop()
                return
            finally:
                self._heir = None
            if self._halt is None:
                self._halt = self._loop.call_later(BATCH_S, self._loop.stop)
            if not heir:
                return
            job, guard = heir[0]

    def _wait(self, hint: float | None) -> None:
        """Run the loop until BATCH_S after an attempt ends or the next retry or host slot is
        due (hint 0: one turn of the loop, for the I/O that is ready)."""
        loop = self._loop
        timeout = self._due(hint)
        timer = loop.call_later(timeout, _cap, loop) if timeout else None
        if timer is None:
            loop.stop()  # before run_forever: one turn, polling without waiting
        self._running = True
        try:
            loop.run_forever()
        finally:
            self._running = False
            if timer is not None:
                timer.cancel()
            if self._halt is not None:
                self._halt.cancel()
                self._halt = None
        if self._fatal:
            raise self._fatal[0]

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
            # the places these attempts held at their hosts are shared with the other workers,
            # which would wait for them for ever (a worker ends early on a full disk)
            for job in self._flying:
                self.limiter.release(job.slot)
            self._flying.clear()
            self.fetcher.close()
            # one more turn: the aborted transports let go of their sockets
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()


def _expire(guard: Guard, task: asyncio.Task) -> None:
    """An attempt's deadline: cut its sockets (a robots.txt thread's too), end its task."""
    guard.cut()
    task.cancel()


def _cap(loop: asyncio.AbstractEventLoop) -> None:
    """The wait's time is up: stop the loop for the scheduler."""
    loop.stop()
