"""Crawl a byte range of a URL file with a pool of processes, and a whole file the same way.

A job's range is cut into pieces that pool_map hands to `processes` worker processes; each
worker crawls its piece with an AsyncEngine that has its share of the total concurrency, and the
per-host limits are one table shared by all workers. The pieces' rows are joined in input
order into the job's part file (JSON lines).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import multiprocessing as mp
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from poolpipe.core.chunks import Range, lines_before, split_file, split_range
from poolpipe.core.inputs import check_text_file
from poolpipe.core.outputs import check_output_path, hold_lock, open_atomic
from poolpipe.core.pool import pool_map
from poolpipe.core.timing import Stopwatch
from poolpipe.crawl.aengine import AsyncEngine
from poolpipe.crawl.demosite import SiteSpec, demo_site
from poolpipe.crawl.engine import WINDOW, EngineStats, iter_items
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.journal import ROBOTS_FOLDER, identity, journal_dir, open_journal
from poolpipe.crawl.merge import part_header, summary, write_parts
from poolpipe.crawl.previous import Previous, load_previous
from poolpipe.crawl.progress import Progress
from poolpipe.crawl.rows import PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import URL_FILE, index_urls
from poolpipe.crawl.warc import WarcAppender, join_warcs, warc_path
from poolpipe.errors import PoolpipeError, Stopped

log = logging.getLogger(__name__)

WARC_WINDOW = 64
"""With the WARC store, lines a worker holds per request in flight: rows that wait for an
earlier slow one hold their bodies, so the window is smaller than WINDOW."""

FLUSH_S = 0.05
"""How often a worker hands its journal's rows to the system: a killed job fetches again at
most the rows of its last FLUSH_S seconds."""

PIECE_BYTES = 4 << 20
"""Bytes of URL file per piece: a job has `processes` pieces, more for files over this each."""


@dataclass(frozen=True)
class PieceTask:
    """A piece of a job's range for one worker: its first line's number, its journal (where
    its rows go) and the last line the journal already has a row for."""

    piece: Range
    first_line: int
    out: str
    done_through: int = 0
    warc: str = ""
    robots: str = ""


@dataclass(frozen=True)
class PieceResult:
    """A worker's piece, done: its part file and what its engine did."""

    out: str
    stats: EngineStats


@dataclass
class _WorkerState:
    limiter: HostLimiter | None = None
    threads: int = 1
    previous: dict[str, Previous] = field(default_factory=dict)
    progress: Progress | None = None


_worker = _WorkerState()


def _init_crawl_worker(
    limiter: HostLimiter,
    counter: Synchronized,
    concurrency: int,
    processes: int,
    previous: dict[str, Previous],
    progress: Progress | None,
) -> None:
    """Pool initializer: the shared host table, this worker's share of the concurrency, and
    the earlier crawl's pages (inherited by the fork, never pickled)."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    _worker.limiter = limiter
    _worker.previous = previous
    _worker.progress = progress
    _worker.threads = concurrency // processes + (index % processes < concurrency % processes)


@dataclass(frozen=True, kw_only=True)
class PieceCrawler:
    """Crawl one piece in this process (the pool's task function)."""

    settings: CrawlSettings
    duplicates: str | None = None
    threads: int | None = None
    limiter: HostLimiter | None = field(default=None, compare=False)
    previous: dict[str, Previous] | None = field(default=None, compare=False)
    progress: Progress | None = field(default=None, compare=False)

    def __call__(self, task: PieceTask) -> PieceResult:
        limiter = self.limiter or _worker.limiter or limiter_for(self.settings)
        threads = self.threads or _worker.threads
        previous = self.previous if self.previous is not None else _worker.previous
        window = min(WINDOW, WARC_WINDOW * threads) if task.warc else None
        engine = AsyncEngine(
            self.settings,
            concurrency=threads,
            limiter=limiter,
            previous=previous,
            window=window,
            robots_dir=task.robots,
            spool_dir=os.path.dirname(task.warc) or None,
        )
        items = iter_items(task.piece, first_line=task.first_line, duplicates=self.duplicates)
        if task.done_through:
            items = (i for i in items if _line(i) > task.done_through)
        with open(task.out, "ab") as fh, open(task.warc or os.devnull, "ab") as records:
            store = WarcAppender(records) if task.warc else None
            progress = self.progress or _worker.progress
            flushed = time.monotonic()
            for row in engine.run(items):
                if progress is not None:
                    progress.add(row)
                if store is not None:
                    store.add(row)
                fh.write(row.to_jsonl())
                if time.monotonic() - flushed >= FLUSH_S:
                    fh.flush()
                    flushed = time.monotonic()
        return PieceResult(task.out, engine.stats)


def limiter_for(settings: CrawlSettings) -> HostLimiter:
    """The per-host table of a crawl with these settings."""
    return HostLimiter(settings.per_host, settings.per_host_delay, throttle=settings.throttle())


def _line(item: tuple[int, str] | PageRow) -> int:
    return item.line if isinstance(item, PageRow) else item[0]


@dataclass(kw_only=True)
class ChunkStats(EngineStats):
    """What a crawl job did: its engines' counts summed, and its processes."""

    processes: int = 1


def _describe(task: PieceTask) -> str:
    piece = task.piece
    return f"the URLs from line {task.first_line} ({piece.label()})"


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


def _workers(pieces: int, settings: CrawlSettings, processes: int) -> int:
    """The processes a crawl of so many pieces runs: no more than them, nor its concurrency."""
    return max(1, min(processes, settings.concurrency, pieces))


def crawl_workers(path: str, settings: CrawlSettings, processes: int) -> int:
    """The processes crawl_file crawls the URL file path with (what its timing record names)."""
    return _workers(len(plan_pieces(split_file(path, 1)[0], processes)), settings, processes)


def crawl_range(
    rng: Range,
    settings: CrawlSettings,
    *,
    processes: int,
    out: str | os.PathLike[str],
    duplicates: str | None = None,
    serial: bool = False,
    progress: Progress | None = None,
) -> ChunkStats:
    """Crawl every URL line of a range into a part file (JSON lines: the settings, then the
    rows in input order).

    Rows go to a journal beside out as they complete; a re-run after a kill resumes from it
    (see journal). With serial, the whole concurrency runs in this one process instead of a
    pool. A full disk or a file-size limit is one sentence, and the journal is removed with
    the part (a resume could only fill the disk again).
    """
    try:
        return _crawl_range(
            rng,
            settings,
            processes=processes,
            out=out,
            duplicates=duplicates,
            serial=serial,
            progress=progress,
        )
    except (OSError, PoolpipeError) as exc:
        if not disk_full(exc):
            raise
        shutil.rmtree(journal_dir(out), ignore_errors=True)
        raise write_failure(out, exc) from None


def _crawl_range(
    rng: Range,
    settings: CrawlSettings,
    *,
    processes: int,
    out: str | os.PathLike[str],
    duplicates: str | None,
    serial: bool,
    progress: Progress | None,
) -> ChunkStats:
    pieces = plan_pieces(rng, processes)
    processes = _workers(len(pieces), settings, processes)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    limiter = limiter_for(settings)
    previous = load_previous(settings.previous)
    warc = settings.store == "warc"
    if warc:
        check_output_path(warc_path(out), "the WARC file")
    journals = open_journal(out, identity(rng, settings, pieces), pieces, warc=warc)
    robots = str(journal_dir(out) / ROBOTS_FOLDER)
    tasks = (
        PieceTask(piece, first, journal.path, journal.done_through, journal.warc, robots)
        for (piece, first), journal in zip(pieces, journals, strict=True)
    )
    stats = ChunkStats(processes=1 if serial else processes)
    if serial:
        crawler = PieceCrawler(
            settings=settings,
            duplicates=duplicates,
            threads=settings.concurrency,
            limiter=limiter,
            previous=previous,
            progress=progress,
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
            initargs=(limiter, counter, settings.concurrency, processes, previous, progress),
            blas=False,
        )
    for result in results:
        stats.add(result.stats)
    with open_atomic(out) as fh:
        fh.write(part_header(settings))
        for journal in journals:
            with open(journal.path, "rb") as part:
                shutil.copyfileobj(part, fh, 1 << 20)
    if warc:
        join_warcs([j.warc for j in journals], warc_path(out))
    shutil.rmtree(journal_dir(out), ignore_errors=True)
    return stats


def crawl_file(
    path: str,
    *,
    out: str | os.PathLike[str],
    settings: CrawlSettings,
    processes: int,
    site: SiteSpec | None = None,
    progress: Progress | None = None,
    restart: bool = False,
) -> dict[str, Any]:
    """Crawl a URL file with a pool of `processes`, write pages.tsv to out; the summary.

    The crawl keeps its work in OUT.journal/ beside out (the repeats table and the job's
    journal), so a killed run resumes where it stopped, as a workflow job does; the folder is
    removed once out is written. With restart, an earlier run's folder is removed first. A
    run stopped on purpose (SIGTERM, Ctrl-C) removes it too, and so does a full disk or a
    file-size limit, which ends the crawl with one sentence.
    """
    check_text_file(path, URL_FILE)  # before the journal folder: a bad input leaves nothing
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if settings.store == "warc":
        check_output_path(warc_path(out), "the WARC file")
    load_previous(settings.previous)
    work = _work_folder(out, restart)
    with _holding(work, out):
        return _crawl_in(path, out, work, settings, processes, site, progress)


def _crawl_in(
    path: str,
    out: Path,
    work: Path,
    settings: CrawlSettings,
    processes: int,
    site: SiteSpec | None,
    progress: Progress | None,
) -> dict[str, Any]:
    """crawl_file's work, in its work folder."""
    try:
        duplicates = str(work / "duplicates.tsv")
        index = index_urls(path, duplicates)
        part = work / "part.jsonl"
        with demo_site(settings, site) as reach, Stopwatch() as watch:
            whole = split_file(path, 1)[0]
            crawl_range(
                whole,
                reach,
                processes=processes,
                out=part,
                duplicates=duplicates,
                progress=progress,
            )
        tally = write_parts(out, [part], index.urls)
        if settings.store == "warc":
            os.replace(warc_path(part), warc_path(out))
    except Stopped:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except (OSError, PoolpipeError) as exc:
        if not disk_full(exc):
            raise
        shutil.rmtree(work, ignore_errors=True)
        raise write_failure(out, exc) from None
    shutil.rmtree(work)
    return summary(
        input_path=path,
        index=index,
        tally=tally,
        settings=settings,
        chunks=1,
        wall_s=watch.wall_s,
        demo_site=site is not None,
    )


WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""The errors of a write that no retry mends: a full disk, a quota, a file-size limit."""


def disk_full(exc: BaseException) -> bool:
    """Whether exc is (or was raised while handling) a write that failed for lack of room."""
    return any(isinstance(e, OSError) and e.errno in WRITE_FAILURES for e in _chain(exc))


def write_failure(out: str | os.PathLike[str], exc: BaseException) -> PoolpipeError:
    """The one sentence for a crawl that ran out of room writing out or its journal."""
    full = next(e for e in _chain(exc) if isinstance(e, OSError) and e.errno in WRITE_FAILURES)
    return PoolpipeError(
        f"the crawl cannot write {os.fspath(out)!r} or its journal: {full.strerror}; nothing "
        "of it was kept (free some space or raise the limit, then run it again)"
    )


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    """exc and the exceptions it was raised while handling (a sentence keeps its OSError as
    its __context__ even when it hides it from the traceback)."""
    seen = 0
    while exc is not None and seen < 16:
        yield exc
        exc = exc.__cause__ or exc.__context__
        seen += 1


@contextlib.contextmanager
def _holding(work: Path, out: Path) -> Iterator[None]:
    """Hold the work folder's lock (flock, let go when the last process holding it ends, a kill
    included) while the block runs; one sentence if another crawl holds it."""
    fd = hold_lock(work)
    if fd is None:
        raise PoolpipeError(
            f"another crawl is writing {str(out)!r} (its journal {str(work)!r} is in use): "
            "let it finish or choose another --out"
        )
    try:
        yield
    finally:
        os.close(fd)


def _work_folder(out: Path, restart: bool) -> Path:
    """OUT.journal/, made if missing; with restart, emptied first. Never a link or a file."""
    work = journal_dir(out)
    if work.is_symlink() or (work.exists() and not work.is_dir()):
        raise PoolpipeError(
            f"{str(work)!r}, where the crawl keeps its journal, is not a folder of its own: "
            "move it away or choose another --out"
        )
    if work.exists():
        with _holding(work, out):  # another crawl's journal: neither removed nor joined
            pass
    if restart and work.exists():
        shutil.rmtree(work)
    elif work.exists():
        log.warning(
            "%s is the journal of an earlier run that did not finish: its rows are kept if the "
            "URL file and the settings are the same (--restart starts over)",
            work,
        )
    work.mkdir(exist_ok=True)
    return work
