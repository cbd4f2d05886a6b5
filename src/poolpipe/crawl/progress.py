"""The live progress of a crawl: counters shared by its processes, and a line that shows them
on a terminal (stderr only, so it never reaches an output)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from poolpipe.crawl.rows import PageRow

INTERVAL_S = 0.5
"""How often the line is redrawn."""


class Progress:
    """Rows written and error rows so far, over every process of a crawl (made before the
    pool's workers are forked)."""

    def __init__(self) -> None:
        ctx = mp.get_context("fork")
        self._lock = ctx.Lock()
        self._counts = ctx.RawArray("q", 2)
        self.started = time.monotonic()

    def add(self, row: PageRow) -> None:
        """Count one row."""
        with self._lock:
            self._counts[0] += 1
            self._counts[1] += bool(row.error)

    def counts(self) -> tuple[int, int]:
        """(rows, error rows) so far."""
        with self._lock:
            return self._counts[0], self._counts[1]

    def line(self) -> str:
        """The progress line: rows done, rows per second since the start, error rows."""
        rows, errors = self.counts()
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return f"crawl: {rows:,} rows, {rows / elapsed:,.0f} pages/s, {errors:,} errors"


@contextlib.contextmanager
def showing(progress: Progress | None, stream: TextIO) -> Iterator[None]:
    """Redraw the progress line on stream every INTERVAL_S while the block runs (if given)."""
    if progress is None:
        yield
        return
    done = threading.Event()

    def draw() -> None:
        while not done.wait(INTERVAL_S):
            stream.write("\r\x1b[K" + progress.line())
            stream.flush()

    thread = threading.Thread(target=draw, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)
        stream.write("\r\x1b[K" + progress.line() + "\n")
        stream.flush()
