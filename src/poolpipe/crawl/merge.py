"""Merge a crawl's part files into pages.tsv and summary.json, checking that every URL line of
the input has exactly one row, in input order."""

from __future__ import annotations

import os
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from poolpipe.core import tsv
from poolpipe.crawl.rows import PAGE_FIELDS, PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import UrlIndex
from poolpipe.errors import PoolpipeError

PERCENTILES = (50, 90, 99)


@dataclass(kw_only=True)
class CrawlTally:
    """Counts over the rows of a crawl, gathered as they stream past."""

    rows: int = 0
    fetched: int = 0
    ok: int = 0
    errors: int = 0
    attempts: int = 0
    retries: int = 0
    retried_urls: int = 0
    bytes: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)
    elapsed_ms: array = field(default_factory=lambda: array("q"))

    def add(self, row: PageRow) -> None:
        """Count one row."""
        self.rows += 1
        if row.status is not None:
            self.by_status[str(row.status)] += 1
        if row.error:
            self.errors += 1
            self.by_error[row.error] += 1
        elif row.status is not None and 200 <= row.status < 300:
            self.ok += 1
        if row.attempts:
            self.fetched += 1
            self.attempts += row.attempts
            self.retries += row.attempts - 1
            self.retried_urls += row.attempts > 1
            self.bytes += row.bytes
            self.elapsed_ms.append(row.elapsed_ms or 0)

    def counts(self) -> dict[str, Any]:
        """The deterministic part of the summary."""
        return {
            "rows": self.rows,
            "fetched": self.fetched,
            "ok": self.ok,
            "errors": self.errors,
            "by_status": dict(sorted(self.by_status.items(), key=lambda kv: int(kv[0]))),
            "by_error": dict(sorted(self.by_error.items())),
            "attempts": self.attempts,
            "retries": self.retries,
            "retried_urls": self.retried_urls,
            "bytes": self.bytes,
        }

    def latency_ms(self) -> dict[str, int]:
        """Percentiles (nearest rank) and maximum of the fetched URLs' elapsed times."""
        if not self.elapsed_ms:
            return {}
        values = np.frombuffer(self.elapsed_ms, dtype=np.int64)
        found = np.percentile(values, PERCENTILES, method="inverted_cdf")
        out = {f"p{p}": int(v) for p, v in zip(PERCENTILES, found, strict=True)}
        return {**out, "max": int(values.max())}


def iter_rows(parts: Iterable[str | os.PathLike[str]]) -> Iterator[PageRow]:
    """Every row of the part files, in order."""
    for part in parts:
        with open(part, "rb") as fh:
            for line in fh:
                yield PageRow.from_jsonl(line)


def write_pages(
    path: str | os.PathLike[str], rows: Iterable[PageRow], expected: int | None = None
) -> CrawlTally:
    """Write pages.tsv from rows in input order; fail if lines repeat, go back, or go missing."""
    tally = CrawlTally()

    def checked() -> Iterator[tuple]:
        last = 0
        for row in rows:
            if row.line <= last:
                raise PoolpipeError(f"the crawl's rows are out of order at line {row.line}")
            last = row.line
            tally.add(row)
            yield row.values()
        if expected is not None and tally.rows != expected:
            raise PoolpipeError(
                f"the crawl has {tally.rows} rows for {expected} URL lines; a part is incomplete"
            )

    tsv.write(path, PAGE_FIELDS, checked())
    return tally


def summary(
    *,
    input_path: str,
    index: UrlIndex,
    tally: CrawlTally,
    settings: CrawlSettings,
    chunks: int,
    wall_s: float,
    demo_site: bool,
) -> dict[str, Any]:
    """The summary.json document; everything but `timing` is the same on every run."""
    config = settings.to_json()
    config.pop("hosts")
    return {
        "input": input_path,
        **index.to_json(),
        **tally.counts(),
        "chunks": chunks,
        "demo_site": demo_site,
        "settings": config,
        "timing": {
            "wall_s": round(wall_s, 3),
            "pages_per_s": round(tally.fetched / wall_s, 1) if wall_s > 0 else None,
            "latency_ms": tally.latency_ms(),
        },
    }
