"""The crawl engine: every URL of a piece gets one row, in input order, and no URL can hold
the crawl up for longer than its deadline.

An Engine runs in one worker process with its share of the total concurrency, one thread per
request in flight, each thread with its own keep-alive connections (a fetch.Fetcher). The
worker's main thread is the scheduler: it reads the piece's lines, holds at most WINDOW of
them, hands URLs to idle threads as the per-host limits (shared by all workers) allow, retries
with backoff, enforces every attempt's deadline, and yields the rows back in input order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields

from urllib3.util import Url

from poolpipe.core.chunks import BLOCK_SIZE, Range
from poolpipe.crawl.fetch import Fetcher, FetchOutcome, check_url, error
from poolpipe.crawl.guard import Guard, Resolver
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.kinds import ErrorKind
from poolpipe.crawl.previous import Previous
from poolpipe.crawl.robots import RobotsCache, RobotsStore
from poolpipe.crawl.rows import NOT_MODIFIED, PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import OVERLONG, URL, decode, iter_lines, read_duplicates

log = logging.getLogger(__name__)

WINDOW = 32_768
"""Lines a worker holds at once (admitted but not yet written): its memory bound."""

ADMIT_BATCH = 256
"""Lines the scheduler reads between two dispatches: the first requests start after a few
lines, not after a whole window of them."""

GRACE_S = 2.0
"""After an attempt's sockets are cut at its deadline, how long its thread has to return
before the attempt is written off and a fresh thread takes its place."""


class Job:
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


class Engine:
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
        self.settings = settings
        self.threads = max(1, threads)
        self.limiter = limiter
        self.window = window or WINDOW
        self.previous = previous or {}
        self.resolver = Resolver(settings.hosts)
        self.internal = () if settings.internal_redirects else settings.networks()
        store = RobotsStore(robots_dir) if robots_dir else None
        robots = RobotsCache(settings.user_agent, store=store)
        self.make_fetcher = fetcher or (
            lambda: Fetcher(settings, robots, self._crawl_delay, spool_dir=spool_dir)
        )
        self.stats = EngineStats()
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._state: dict[int, str] = {}
        self._tokens = itertools.count(1)
        self._seq = itertools.count()
        self._running: dict[int, Job] = {}
        self._timers: list[tuple[float, int, int, bool]] = []
        self._delayed: list[tuple[float, int, Job]] = []
        self._queues: dict[str, deque[Job]] = {}
        self._hosts: deque[str] = deque()
        self._idle = 0
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
            self._watch(now)
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

    def _start(self, job: Job, now: float) -> None:
        job.attempts += 1
        self.stats.attempts += 1
        if job.attempts == 1:
            job.started = now
        job.token = token = next(self._tokens)
        job.guard = guard = Guard(now + self.settings.deadline, self.resolver, self.internal)
        self._running[token] = job
        self._state[token] = "running"
        heapq.heappush(self._timers, (guard.deadline, next(self._seq), token, False))
        self._idle -= 1
        self._tasks.put((token, job.url, guard, job.previous, job.slot))

    def _watch(self, now: float) -> None:
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
        now = time.monotonic()
        due = [hint] if hint is not None else []
        if self._timers:
            due.append(self._timers[0][0] - now)
        if self._delayed:
            due.append(self._delayed[0][0] - now)
        timeout = max(0.0, min([*due, 1.0]))
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


def backoff(settings: CrawlSettings, attempt: int, retry_after: float | None) -> float:
    """Seconds before retry number `attempt`: Retry-After if the server sent one, else
    exponential; never more than backoff_max."""
    wait = settings.backoff * 2 ** (attempt - 1) if retry_after is None else retry_after
    return min(wait, settings.backoff_max)


def job_row(job: Job, outcome: FetchOutcome, now: float | None) -> PageRow:
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
