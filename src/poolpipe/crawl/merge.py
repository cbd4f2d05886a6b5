"""Merge a crawl's part files into pages.tsv and summary.json, checking that every URL line of
the input has exactly one row, in input order."""

from __future__ import annotations

import json
import os
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from poolpipe.core import tsv
from poolpipe.core.outputs import dumps_json, open_atomic
from poolpipe.crawl.rows import PAGE_FIELDS, PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import UrlIndex
from poolpipe.errors import PoolpipeError

PERCENTILES = (50, 90, 99)

_STATUS, _BYTES, _ELAPSED, _ATTEMPTS, _ERROR = map(
    PAGE_FIELDS.index, ("status", "bytes", "elapsed_ms", "attempts", "error")
)
_TABS = len(PAGE_FIELDS) - 1
_SPECIAL = re.compile(r"[\\\n\r\0]").search
"""A character other than the tab that tsv escapes (a tab inside a field shows in the count)."""
_BLOCK_ROWS = 1024
_PLAIN = (str, int)
_ESCAPED = ("\\", "\r", "\0")
"""What tsv escapes besides the tab and the newline (which show in the counts of a block whose
rows all have every field)."""

_DECODE = json.JSONDecoder().raw_decode
_INT, _INT_OR_NULL = (int,), (int, type(None))
_KINDS = dict(line=_INT, status=_INT_OR_NULL, bytes=_INT, elapsed_ms=_INT_OR_NULL, attempts=_INT)
_SHAPES = frozenset(product(*(_KINDS.get(name, (str,)) for name in PAGE_FIELDS)))
"""The classes a part row's values may have, field by field, as PageRow holds them (the rest
are text)."""
_MAX_MS = 2**63 - 1
"""The largest elapsed time a row can hold: the tally keeps them as 64-bit integers."""


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

    def add(self, values: Sequence[Any]) -> None:
        """Count one row, given as its values in PAGE_FIELDS order."""
        self.rows += 1
        status = values[_STATUS]
        if status is not None:
            self.by_status[str(status)] += 1
        error = values[_ERROR]
        if error:
            self.errors += 1
            self.by_error[error] += 1
        elif status is not None and 200 <= status < 300:
            self.ok += 1
        attempts = values[_ATTEMPTS]
        if attempts:
            self.fetched += 1
            self.attempts += attempts
            self.retries += attempts - 1
            self.retried_urls += attempts > 1
            self.bytes += values[_BYTES]
            self.elapsed_ms.append(values[_ELAPSED] or 0)

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
    for values in iter_values(parts):
        yield PageRow(**dict(zip(PAGE_FIELDS, values, strict=True)))


def part_settings(settings: CrawlSettings) -> dict[str, Any]:
    """The settings a part file records and summary.json states: all but the host table (the
    demo site's address changes from run to run)."""
    config = settings.to_json()
    config.pop("hosts")
    return json.loads(dumps_json(config))


def part_header(settings: CrawlSettings) -> bytes:
    """A part file's first line: the settings its rows were crawled with."""
    return (json.dumps({"settings": part_settings(settings)}, sort_keys=True) + "\n").encode()


def iter_values(
    parts: Iterable[str | os.PathLike[str]], settings: CrawlSettings | None = None
) -> Iterator[list[Any]]:
    """Every row of the part files as its values in PAGE_FIELDS order, in order; one sentence
    for a line that is not a row (a part damaged after the crawl wrote it), and, given
    settings, for a part whose first line records other ones (a part written before parts
    recorded them is taken as it is)."""
    expected = None if settings is None else part_settings(settings)
    for part in parts:
        with open(part, "rb") as fh:
            for number, line in enumerate(fh, 1):
                try:
                    text = line.decode()
                    values, end = _DECODE(text)
                    if text[end:] != "\n":  # what the crawl writes: one array and a newline
                        values = None
                except ValueError:
                    values = None
                if number == 1 and values.__class__ is dict and list(values) == ["settings"]:
                    if expected is not None:
                        _check_settings(part, values["settings"], expected)
                    continue
                if (
                    values.__class__ is not list
                    or tuple(map(type, values)) not in _SHAPES
                    or not 0 <= (values[_ELAPSED] or 0) <= _MAX_MS
                    or values[_ATTEMPTS] < 0
                    or values[_BYTES] < 0
                ):
                    raise PoolpipeError(
                        f"line {number} of the crawl part {os.fspath(part)!r} is not a row: the "
                        "file was damaged after the crawl wrote it (remove it and run again)"
                    )
                yield values


def _check_settings(part: str | os.PathLike[str], found: Any, expected: dict[str, Any]) -> None:
    """One sentence if a part was crawled with other settings than the merge states."""
    if found == expected:
        return
    found = found if isinstance(found, dict) else {}
    name = next((k for k in sorted(expected) if found.get(k) != expected[k]), None)
    change = f"{name} was {found.get(name)!r}, now {expected[name]!r}" if name else "they changed"
    raise PoolpipeError(
        f"the crawl part {os.fspath(part)!r} was crawled with other crawl settings ({change}), "
        f"kept by --rerun-triggers mtime: delete {os.path.dirname(part) or '.'}/ or run "
        "without --rerun-triggers mtime, so its chunks are crawled again"
    )


def write_parts(
    path: str | os.PathLike[str],
    parts: Iterable[str | os.PathLike[str]],
    expected: int | None = None,
    settings: CrawlSettings | None = None,
) -> CrawlTally:
    """Write pages.tsv from the part files (in input order); as write_pages, and, given
    settings, only if the parts were crawled with them (see iter_values)."""
    return _write(path, iter_values(parts, settings), expected)


def write_pages(
    path: str | os.PathLike[str], rows: Iterable[PageRow], expected: int | None = None
) -> CrawlTally:
    """Write pages.tsv from rows in input order; fail if lines repeat, go back, or go missing."""
    return _write(path, (row.values() for row in rows), expected)


def _write(
    path: str | os.PathLike[str], rows: Iterable[Sequence[Any]], expected: int | None
) -> CrawlTally:
    tally = CrawlTally()
    last = 0
    block: list[Sequence[Any]] = []
    with open_atomic(path) as fh:
        fh.write(("\t".join(PAGE_FIELDS) + "\n").encode())
        for values in rows:
            line = values[0]
            if line <= last:
                raise PoolpipeError(f"the crawl's rows are out of order at line {line}")
            last = line
            tally.add(values)
            block.append(values)
            if len(block) >= _BLOCK_ROWS:
                fh.write(page_lines(block).encode())
                block.clear()
        fh.write(page_lines(block).encode())
        if expected is not None and tally.rows != expected:
            raise PoolpipeError(
                f"the crawl has {tally.rows} rows for {expected} URL lines; a part is incomplete"
            )
    return tally


def page_lines(rows: Sequence[Sequence[Any]]) -> str:
    """The pages.tsv lines of some rows, exactly as tsv.line writes them: made at once where
    every row is the usual one (text, whole numbers and empty fields, nothing to escape), else
    row by row."""
    text = "\n".join(map(_plain_line, rows))
    if (
        any(len(row) != _TABS + 1 for row in rows)  # else a short row hides a tab in another
        or text.count("\t") != _TABS * len(rows)
        or text.count("\n") != len(rows) - 1
        or any(char in text for char in _ESCAPED)
    ):
        return "".join([page_line(row) for row in rows])
    return text + "\n"


def _plain_line(row: Sequence[Any]) -> str:
    """A row's fields joined by tabs: text and whole numbers as they are, None empty, and a NUL
    for a value of any other kind (which sends page_lines the long way)."""
    return "\t".join([str(v) if v.__class__ in _PLAIN else "" if v is None else "\0" for v in row])


def page_line(values: Sequence[Any]) -> str:
    """A row's pages.tsv line, exactly as tsv.line writes it; quicker for the usual row (text,
    whole numbers and empty fields, nothing to escape)."""
    texts = []
    for value in values:
        kind = value.__class__
        if kind is str:
            texts.append(value)
        elif kind is int:
            texts.append(str(value))
        elif value is None:
            texts.append("")
        else:
            return tsv.line(values)
    text = "\t".join(texts)
    if len(texts) != _TABS + 1 or text.count("\t") != _TABS or _SPECIAL(text):
        return tsv.line(values)
    return text + "\n"


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
    config = part_settings(settings)
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
