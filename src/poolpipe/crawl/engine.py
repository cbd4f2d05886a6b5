"""The crawl engine: every URL of a piece gets one row, in input order, and no URL can hold
the crawl up for longer than its deadline.

An Engine runs in one worker process with its share of the total concurrency, one thread per
request in flight, each thread with its own keep-alive connections (a fetch.Fetcher). The
worker's main thread is the scheduler: it reads the piece's lines, holds at most WINDOW of
them, hands URLs to idle threads as the per-host limits (shared by all workers) allow, retries
with backoff, enforces every attempt's deadline, and yields the rows back in input order.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator

from poolpipe.core.chunks import BLOCK_SIZE, Range
from poolpipe.crawl.fetch import Fetcher, FetchOutcome, error
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.kinds import ErrorKind
from poolpipe.crawl.previous import Previous
from poolpipe.crawl.robots import RobotsCache, RobotsStore
from poolpipe.crawl.rows import PageRow
from poolpipe.crawl.schedule import (
    ADMIT_BATCH,
    WINDOW,
    EngineStats,
    Scheduler,
    UrlJob,
    backoff,
    job_row,
)
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import OVERLONG, URL, decode, iter_lines, read_duplicates

log = logging.getLogger(__name__)

__all__ = [
    "ADMIT_BATCH",
    "GRACE_S",
    "WINDOW",
    "Engine",
    "EngineStats",
    "UrlJob",
    "backoff",
    "iter_items",
    "job_row",
]

GRACE_S = 2.0
"""After an attempt's sockets are cut at its deadline, how long its thread has to return
before the attempt is written off and a fresh thread takes its place."""


class Engine(Scheduler):
    """One worker's crawler: `threads` fetch threads and the scheduler (the calling thread)."""

    def __init__(
        self,
        settings: CrawlSettings,
        *,
        threads: int,
        limiter: HostLimiter,
        window: int | None = None,
        fetcher: Callable[[], Fetcher] | None = None,
        previous: dict[str, Previous] | None = None,
        robots_dir: str = "",
        spool_dir: str | None = None,
    ) -> None:
        super().__init__(settings, limiter=limiter, window=window, previous=previous)
        self.threads = max(1, threads)
        store = RobotsStore(robots_dir) if robots_dir else None
        robots = RobotsCache(settings.user_agent, store=store)
        self.make_fetcher = fetcher or (
            lambda: Fetcher(settings, robots, self._crawl_delay, spool_dir=spool_dir)
        )
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._state: dict[int, str] = {}
        self._tokens = itertools.count(1)
        self._running: dict[int, UrlJob] = {}
        self._timers: list[tuple[float, int, int, bool]] = []
        self._pool: list[threading.Thread] = []

    def run(self, items: Iterable[tuple[int, str] | PageRow]) -> Iterator[PageRow]:
        """Crawl (line, url) items; pass PageRows through; yield every row in input order."""
        self._spawn(self.threads)
        try:
            yield from self._schedule(iter(items))
        finally:
            for _ in self._pool:
                self._tasks.put(None)
            for thread in self._pool:
                thread.join(timeout=0.5)
            # the places these attempts hold at their hosts are shared with the other workers,
            # which would wait for them for ever (a worker that ends early on a full disk)
            for job in self._running.values():
                self.limiter.release(job.slot)
            self._running.clear()

    def _start(self, job: UrlJob, now: float) -> None:
        guard = self._begin(job, now)
        job.token = token = next(self._tokens)
        self._running[token] = job
        self._state[token] = "running"
        heapq.heappush(self._timers, (guard.deadline, next(self._seq), token, False))
        self._tasks.put((token, job.url, guard, job.previous, job.slot))

    def _tick(self, now: float) -> None:
        """Cut attempts past their deadline; write off those whose thread still has not returned."""
        while self._timers and self._timers[0][0] <= now:
            when, _, token, final = heapq.heappop(self._timers)
            job = self._running.get(token)
            if job is None or job.guard is None:
                continue
            if not final:
                job.guard.cut()
                heapq.heappush(self._timers, (when + GRACE_S, next(self._seq), token, True))
                continue
            with self._lock:
                if self._state.get(token) != "running":
                    continue
                self._state[token] = "abandoned"
            self.stats.abandoned += 1
            log.warning("no return from the thread fetching %s; left it behind", job.url)
            self._spawn(1)
            detail = f"no answer within {self.settings.deadline:g} s"
            self._finish(token, error(ErrorKind.DEADLINE, detail), abandoned=True)
        if len(self._timers) > 4 * len(self._running) + 256:
            self._timers = [t for t in self._timers if t[2] in self._running]
            heapq.heapify(self._timers)

    def _wait(self, hint: float | None) -> None:
        """Block until a result comes or the next timer, retry or host slot is due (hint 0: only
        collect the results already in)."""
        timeout = self._due(hint, *(self._timers[0][:1] if self._timers else ()))
        try:
            token, outcome = self._done.get(timeout=timeout)
        except queue.Empty:
            return
        self._finish(token, outcome)
        while True:
            try:
                token, outcome = self._done.get_nowait()
            except queue.Empty:
                return
            self._finish(token, outcome)

    def _finish(self, token: int, outcome: FetchOutcome, abandoned: bool = False) -> None:
        if outcome.fatal is not None:
            raise outcome.fatal
        job = self._running.pop(token, None)
        if job is None:
            return
        if not abandoned:
            with self._lock:
                self._state.pop(token, None)
        self._settle(job, outcome)

    def _spawn(self, count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(target=self._work, name="fetch", daemon=True)
            thread.start()
            self._pool.append(thread)
            self._idle += 1

    def _work(self) -> None:
        """A fetch thread: attempts from the scheduler, outcomes back, until told to stop."""
        fetcher = self.make_fetcher()
        try:
            while True:
                task = self._tasks.get()
                if task is None:
                    return
                token, url, guard, previous, slot = task
                # on a loaded machine a thread may wake well after its place was taken: the
                # host's delay counts from when the request really starts
                self.limiter.started(slot)
                if previous is None:
                    outcome = fetcher.attempt(url, guard)
                else:
                    outcome = fetcher.attempt(url, guard, previous)
                with self._lock:
                    if self._state.get(token) == "abandoned":
                        del self._state[token]
                        return
                    self._state[token] = "returned"
                    self._done.put((token, outcome))
        finally:
            fetcher.close()


def iter_items(
    rng: Range, *, first_line: int, duplicates: str | None, block_size: int = BLOCK_SIZE
) -> Iterator[tuple[int, str] | PageRow]:
    """The range's URL lines as (line, url) to fetch, or as ready PageRows (repeats, bad
    lines)."""
    repeats = read_duplicates(duplicates, first_line)
    repeat = next(repeats, None)
    for number, kind, text in iter_lines(rng, first_line, block_size):
        if kind not in (URL, OVERLONG):
            continue
        while repeat is not None and repeat[0] < number:
            repeat = next(repeats, None)
        url, utf8 = decode(text)
        if kind == OVERLONG:
            yield PageRow(
                line=number, url=url + "...", error=ErrorKind.INVALID_URL, detail="line too long"
            )
        elif repeat is not None and repeat[0] == number:
            detail = f"same URL as line {repeat[1]}"
            yield PageRow(line=number, url=url, error=ErrorKind.DUPLICATE, detail=detail)
        elif not utf8:
            yield PageRow(line=number, url=url, error=ErrorKind.INVALID_URL, detail="not UTF-8")
        else:
            yield number, url
