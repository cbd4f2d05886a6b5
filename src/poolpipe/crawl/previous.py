"""An earlier crawl's pages.tsv, read for conditional requests: what each URL's page was."""

from __future__ import annotations

import os
from dataclasses import dataclass

from poolpipe.core.tsv import unescape
from poolpipe.crawl.rows import PAGE_FIELDS
from poolpipe.errors import PoolpipeError

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


def load_previous(path: str | os.PathLike[str] | None) -> dict[str, Previous]:
    """The earlier pages.tsv's URLs that can be asked again conditionally: fetched with a 200
    (or found unchanged with a 304) and with an ETag or a Last-Modified."""
    if not path:
        return {}
    try:
        fh = open(path, encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as exc:
        raise PoolpipeError(f"crawl.previous {path} cannot be read: {exc.strerror}") from None
    found: dict[str, Previous] = {}
    with fh:
        try:
            header = fh.readline().rstrip("\n").split("\t")
            if header != list(PAGE_FIELDS):
                raise PoolpipeError(
                    f"crawl.previous {path} is not a pages.tsv of this version: its header "
                    f"is not {' '.join(PAGE_FIELDS)}"
                )
            col = {name: i for i, name in enumerate(PAGE_FIELDS)}
            for number, line in enumerate(fh, start=2):
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
