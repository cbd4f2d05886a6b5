"""An earlier crawl's pages.tsv, read for conditional requests: what each URL's page was."""

from __future__ import annotations

import itertools
import os
import re
import stat
from dataclasses import dataclass
from typing import TextIO

from poolpipe.core.tsv import unescape
from poolpipe.crawl.rows import PAGE_FIELDS
from poolpipe.errors import PoolpipeError

LINE_CHARS = 1 << 20
"""The longest line of an earlier pages.tsv read (its URLs and validators are far shorter)."""

VALIDATOR_CHARS = 1024
"""The longest ETag or Last-Modified kept; a longer one is not sent back."""


@dataclass(frozen=True, slots=True)
class Previous:
    """What an earlier crawl saw at a URL: where it ended, its validators, hash and type."""

    final_url: str
    etag: str
    last_modified: str
    sha256: str
    content_type: str


_SHA256 = re.compile(r"[0-9a-f]{64}")


def load_previous(path: str | os.PathLike[str] | None) -> dict[str, Previous]:
    """The earlier pages.tsv's URLs that can be asked again conditionally: fetched with a 200
    (or found unchanged with a 304) and with an ETag or a Last-Modified."""
    if not path:
        return {}
    found: dict[str, Previous] = {}
    with _open_regular(path) as fh:
        try:
            header = _line(fh, path, 1).rstrip("\n").split("\t")
            if header != list(PAGE_FIELDS):
                raise PoolpipeError(
                    f"crawl.previous {path} is not a pages.tsv of this version: its header "
                    f"is not {' '.join(PAGE_FIELDS)}"
                )
            col = {name: i for i, name in enumerate(PAGE_FIELDS)}
            for number in itertools.count(2):
                line = _line(fh, path, number)
                if not line:
                    break
                fields = line.rstrip("\n").split("\t")
                if len(fields) != len(PAGE_FIELDS):
                    raise PoolpipeError(
                        f"crawl.previous {path} line {number} has {len(fields)} fields, "
                        f"not {len(PAGE_FIELDS)}"
                    )
                status = fields[col["status"]]
                etag, modified = fields[col["etag"]], fields[col["last_modified"]]
                if status not in ("200", "304") or not (etag or modified):
                    continue
                digest = fields[col["sha256"]]
                if digest and not _SHA256.fullmatch(digest):  # a 304 row would carry it on
                    raise PoolpipeError(
                        f"crawl.previous {path} line {number}: its sha256 {digest[:80]!r} is "
                        "not 64 hexadecimal digits"
                    )
                found[unescape(fields[col["url"]])] = Previous(
                    final_url=unescape(fields[col["final_url"]]),
                    etag=unescape(etag),
                    last_modified=unescape(modified),
                    sha256=fields[col["sha256"]],
                    content_type=unescape(fields[col["content_type"]]),
                )
        except UnicodeDecodeError:
            raise PoolpipeError(f"crawl.previous {path} is not UTF-8 text") from None
    return found


def _open_regular(path: str | os.PathLike[str]) -> TextIO:
    """Open an earlier pages.tsv for reading, if it is a regular file (never waiting on a FIFO
    or reading a device), else one sentence."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise PoolpipeError(f"crawl.previous {path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PoolpipeError(f"crawl.previous {path} is not a regular file")
    os.set_blocking(fd, True)
    return open(fd, encoding="utf-8", newline="\n")


def _line(fh: TextIO, path: str | os.PathLike[str], number: int) -> str:
    """The next line, read with a bound: a file without line ends (a sparse file of NULs)
    cannot fill memory."""
    line = fh.readline(LINE_CHARS + 1)
    if len(line) > LINE_CHARS:
        raise PoolpipeError(
            f"crawl.previous {path} line {number} is longer than {LINE_CHARS:,} characters: "
            "it is not a pages.tsv"
        )
    return line
