"""One row per URL line: the columns of pages.tsv, and the JSON-lines form of part files."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from typing import BinaryIO

PAGE_FIELDS = (
    "line",
    "url",
    "final_url",
    "status",
    "bytes",
    "elapsed_ms",
    "attempts",
    "error",
    "detail",
    "content_type",
    "sha256",
    "etag",
    "last_modified",
)
"""The columns of pages.tsv, in order (and of a part file's JSON arrays)."""

NOT_MODIFIED = "not_modified"
"""The detail of a 304 answer to a conditional request: the page is as the earlier crawl saw it."""

_VALUES = operator.attrgetter(*PAGE_FIELDS)
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
"""json.dumps(..., ensure_ascii=False), without making an encoder for every row."""
_DECODE = json.JSONDecoder().decode


@dataclass(frozen=True)
class Exchange:
    """A response as fetched, for the WARC store: the URL, status line, headers and body.

    The body is a file (in memory while small, on disk past fetch.SPOOL_BYTES), so a large
    body is never held in memory, once or twice; whoever writes the record closes it.
    """

    url: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: BinaryIO
    size: int
    date: str


@dataclass(frozen=True, kw_only=True)
class PageRow:
    """The result of one input URL line."""

    line: int
    url: str
    final_url: str = ""
    status: int | None = None
    bytes: int = 0
    elapsed_ms: int | None = None
    attempts: int = 0
    error: str = ""
    detail: str = ""
    content_type: str = ""
    sha256: str = ""
    etag: str = ""
    last_modified: str = ""
    record: Exchange | None = field(default=None, compare=False, repr=False)
    """The response itself, on its way to the WARC store (never in pages.tsv)."""

    @property
    def archived(self) -> bool:
        """Whether the WARC store holds a response for this row: it got one, and no error."""
        return self.status is not None and not self.error

    def values(self) -> tuple:
        """The fields of PAGE_FIELDS, in order."""
        return _VALUES(self)

    def to_jsonl(self) -> bytes:
        """One line of a part file: the fields as a JSON array."""
        return (_ENCODE(_VALUES(self)) + "\n").encode()

    @classmethod
    def from_jsonl(cls, line: bytes) -> PageRow:
        """Inverse of to_jsonl."""
        return cls(**dict(zip(PAGE_FIELDS, _DECODE(line.decode()), strict=True)))
