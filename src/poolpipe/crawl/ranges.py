"""Crawl a byte range of a URL file with a pool of processes, and a whole file the same way.

A job's range is cut into pieces that pool_map hands to `processes` worker processes; each
worker crawls its piece with an Engine that has its share of the total concurrency, and the
per-host limits are one table shared by all workers. The pieces' rows are joined in input
order into the job's part file (JSON lines).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from poolpipe.core.chunks import Range, lines_before, split_file, split_range
from poolpipe.core.outputs import open_atomic
from poolpipe.core.pool import pool_map
from poolpipe.core.timing import Stopwatch
from poolpipe.crawl.demosite import SiteSpec, demo_site
from poolpipe.crawl.engine import Engine, EngineStats, iter_items
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.merge import iter_rows, summary, write_pages
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import index_urls

PIECE_BYTES = 4 << 20
"""Bytes of URL file per piece: a job has `processes` pieces, more for files over this each."""


@dataclass(frozen=True)
class PieceTask:
    """A piece of a job's range for one worker: its first line's number, where its rows go."""

    piece: Range
    first_line: int
    out: str


@dataclass(frozen=True)
class PieceResult:
    """A worker's piece, done: its part file and what its engine did."""

    out: str
    stats: EngineStats


@dataclass
class _WorkerState:
    limiter: HostLimiter | None = None
    threads: int = 1


_worker = _WorkerState()


def _init_crawl_worker(
    limiter: HostLimiter, counter: Synchronized, concurrency: int, processes: int
) -> None:
    """Pool initializer: the shared host table, and this worker's share of the concurrency."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    _worker.limiter = limiter
    _worker.threads = concurrency // processes + (index % processes < concurrency % processes)


@dataclass(frozen=True, kw_only=True)
class PieceCrawler:
    """Crawl one piece in this process (the pool's task function)."""

    settings: CrawlSettings
    duplicates: str | None = None
    threads: int | None = None
    limiter: HostLimiter | None = field(default=None, compare=False)

    def __call__(self, task: PieceTask) -> PieceResult:
        limiter = self.limiter or _worker.limiter or HostLimiter(self.settings.per_host)
        threads = self.threads or _worker.threads
        engine = Engine(self.settings, threads=threads, limiter=limiter)
        items = iter_items(task.piece, first_line=task.first_line, duplicates=self.duplicates)
        with open(task.out, "wb") as fh:
            for row in engine.run(items):
                fh.write(row.to_jsonl())
        return PieceResult(task.out, engine.stats)


@dataclass(kw_only=True)
class ChunkStats(EngineStats):
    """What a crawl job did: its engines' counts summed, and its processes."""

    processes: int = 1


def _describe(task: PieceTask) -> str:
    piece = task.piece
    return f"the URLs from line {task.first_line} (bytes {piece.start}-{piece.end} of {piece.path})"


def plan_pieces(rng: Range, processes: int) -> list[tuple[Range, int]]:
    """A job's pieces with the number of each one's first line."""
    count = processes * max(1, math.ceil(rng.size / PIECE_BYTES))
    pieces = [p for p in split_range(rng, count) if p.size] or [rng]
    first = lines_before(rng.path, rng.start) + 1
    out = []
    at = rng.start
    for piece in pieces:
        first += lines_before(rng.path, piece.start, at)
        at = piece.start
        out.append((piece, first))
    return out


def crawl_range(
    rng: Range,
    settings: CrawlSettings,
    *,
    processes: int,
    out: str | os.PathLike[str],
    duplicates: str | None = None,
    serial: bool = False,
) -> ChunkStats:
    """Crawl every URL line of a range into a part file (JSON lines, input order).

    With serial, the whole concurrency runs in this one process instead of a pool.
    """
    pieces = plan_pieces(rng, processes)
    processes = max(1, min(processes, settings.concurrency, len(pieces)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    limiter = HostLimiter(settings.per_host, settings.per_host_delay)
    tasks = (
        PieceTask(piece, first, str(tmp / f"{i}.jsonl")) for i, (piece, first) in enumerate(pieces)
    )
    stats = ChunkStats(processes=1 if serial else processes)
    try:
        if serial:
            crawler = PieceCrawler(
                settings=settings,
                duplicates=duplicates,
                threads=settings.concurrency,
                limiter=limiter,
            )
            results: Iterator[PieceResult] = map(crawler, tasks)
        else:
            counter = mp.get_context("fork").Value("i", 0)
            results = pool_map(
                PieceCrawler(settings=settings, duplicates=duplicates),
                tasks,
                processes,
                describe=_describe,
                initializer=_init_crawl_worker,
                initargs=(limiter, counter, settings.concurrency, processes),
            )
        with open_atomic(out) as fh:
            for result in results:
                with open(result.out, "rb") as part:
                    shutil.copyfileobj(part, fh, 1 << 20)
                os.unlink(result.out)
                stats.add(result.stats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return stats


def crawl_file(
    path: str,
    *,
    out: str | os.PathLike[str],
    settings: CrawlSettings,
    processes: int,
    site: SiteSpec | None = None,
) -> dict[str, Any]:
    """Crawl a URL file with a pool of `processes`, write pages.tsv to out; the summary."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        duplicates = str(Path(tmp) / "duplicates.tsv")
        index = index_urls(path, duplicates)
        part = Path(tmp) / "part.jsonl"
        with demo_site(settings, site) as reach, Stopwatch() as watch:
            whole = split_file(path, 1)[0]
            crawl_range(whole, reach, processes=processes, out=part, duplicates=duplicates)
        tally = write_pages(out, iter_rows([part]), index.urls)
    return summary(
        input_path=path,
        index=index,
        tally=tally,
        settings=settings,
        chunks=1,
        wall_s=watch.wall_s,
        demo_site=site is not None,
    )
