"""URL files: one URL a line; blank lines and `#` comments are skipped, repeated URLs are
found exactly and crawled once.

The index pass keeps only a 64-bit hash per URL line (8 bytes a URL, and as much again to sort
them), finds the lines whose hashes collide, and compares those lines' text in a second pass,
so the duplicates it reports are exact whatever the hash does.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from poolpipe.core import tsv
from poolpipe.core.chunks import BLOCK_SIZE, Range, iter_blocks
from poolpipe.core.inputs import check_text_file
from poolpipe.errors import PoolpipeError

BLANK, COMMENT, URL, OVERLONG = "blank", "comment", "url", "overlong"
_SPACE = b" \t\r\f\v"
DUPLICATE_FIELDS = ("line", "first_line")
URL_FILE = "text file of URLs"
"""What a URL file is, as its checks name it."""


@dataclass(frozen=True, kw_only=True)
class UrlIndex:
    """What a URL file holds, line by line."""

    lines: int = 0
    urls: int = 0
    blank_lines: int = 0
    comment_lines: int = 0
    duplicates: int = 0

    @property
    def unique_urls(self) -> int:
        """URL lines that are not repeats of an earlier one."""
        return self.urls - self.duplicates

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "unique_urls": self.unique_urls}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UrlIndex:
        """Inverse of to_json."""
        return cls(**{k: v for k, v in data.items() if k != "unique_urls"})


def classify_line(raw: bytes) -> tuple[str, bytes]:
    """A line's kind (blank, comment or url) and its text without surrounding white space."""
    text = raw.strip(_SPACE)
    if not text:
        return BLANK, text
    if text.startswith(b"#"):
        return COMMENT, text
    return URL, text


def iter_lines(rng: Range, first_line: int, block_size: int = BLOCK_SIZE) -> Iterator[tuple]:
    """(line number, kind, text) of every line of a range; a line over block_size is OVERLONG."""
    number = first_line
    for block in iter_blocks(rng, block_size):
        data = bytes(block.data)
        if block.overlong:
            yield number, OVERLONG, data[:200]
            number += 1
            continue
        body = data[:-1] if data.endswith(b"\n") else data
        for raw in body.split(b"\n"):
            kind, text = classify_line(raw)
            yield number, kind, text
            number += 1


def decode(text: bytes) -> tuple[str, bool]:
    """A URL line as text, and whether it was valid UTF-8."""
    try:
        return text.decode("utf-8"), True
    except UnicodeDecodeError:
        return text.decode("utf-8", errors="backslashreplace"), False


def index_urls(path: str | os.PathLike[str], duplicates: str | os.PathLike[str]) -> UrlIndex:
    """Count a URL file's lines and write its repeated URL lines (line, first_line) to a TSV."""
    p = check_text_file(path, URL_FILE)
    whole = Range(str(path), 0, p.stat().st_size)
    counts = {BLANK: 0, COMMENT: 0, URL: 0, OVERLONG: 0}
    hashes = array("q")
    total = 0
    for _, kind, text in iter_lines(whole, 1):
        total += 1
        counts[kind] += 1
        if kind == URL:
            hashes.append(hash(text))
    pairs = _exact_duplicates(whole, hashes)
    write_duplicates(duplicates, pairs)
    return UrlIndex(
        lines=total,
        urls=counts[URL] + counts[OVERLONG],
        blank_lines=counts[BLANK],
        comment_lines=counts[COMMENT],
        duplicates=len(pairs),
    )


def _exact_duplicates(whole: Range, hashes: array) -> list[tuple[int, int]]:
    """(line, first line with the same text) for every repeat, in line order.

    hashes holds one hash per URL line, in order; only lines whose hash is shared are
    compared, by their text, in a second pass over the file.
    """
    if len(hashes) < 2:
        return []
    values = np.frombuffer(hashes, dtype=np.int64)
    ordered = np.sort(values)
    # the hashes met more than once (np.unique would import numpy.ma: 10 ms on every crawl)
    shared = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    if not len(shared):
        return []
    wanted = set(np.flatnonzero(np.isin(values, shared)).tolist())
    first: dict[bytes, int] = {}
    pairs = []
    position = 0
    for number, kind, text in iter_lines(whole, 1):
        if kind != URL:
            continue
        if position in wanted:
            earlier = first.setdefault(text, number)
            if earlier != number:
                pairs.append((number, earlier))
        position += 1
    return pairs


def write_duplicates(path: str | os.PathLike[str], pairs: Iterable[tuple[int, int]]) -> None:
    """Write (line, first_line) pairs as a TSV, atomically."""
    tsv.write(path, DUPLICATE_FIELDS, pairs)


def read_duplicates(path: str | os.PathLike[str] | None, start: int = 1) -> Iterator[tuple]:
    """Stream the (line, first_line) pairs of a duplicates TSV from line `start` on."""
    if path is None:
        return
    with Path(path).open(encoding="utf-8") as fh:
        if fh.readline().rstrip("\n").split("\t") != list(DUPLICATE_FIELDS):
            raise PoolpipeError(f"{path} is not a duplicates table of poolpipe")
        for row in fh:
            line, first = row.split("\t")
            if int(line) >= start:
                yield int(line), int(first)
