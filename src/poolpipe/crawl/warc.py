"""The WARC store (crawl.store: warc): every response fetched, one gzipped WARC record each.

A piece's records go to a file beside its journal, one record per row that got a response
and no error (PageRow.archived), written before the row, in input order; a resumed piece
keeps as many records as its journal keeps such rows. A job's file is its pieces' files
joined in order, the crawl's the jobs' files joined in order: gzip members and WARC records
both concatenate. Bodies are stored decoded (as the sha256 column hashes them), so the
Content-Encoding and Transfer-Encoding headers are left out and Content-Length is the
decoded size.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from poolpipe.core.outputs import open_atomic
from poolpipe.crawl.rows import PageRow

DROPPED = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def warc_path(out: str | os.PathLike[str]) -> str:
    """The WARC file that goes with a part file or pages.tsv: the same name, .warc.gz."""
    base, _ = os.path.splitext(os.fspath(out))
    return base + ".warc.gz"


class WarcAppender:
    """Append the responses of rows to a WARC file, each record flushed as it is written."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.writer = WARCWriter(fh, gzip=True)

    def add(self, row: PageRow) -> None:
        """Write the row's response, if it has one to keep."""
        ex = row.record
        if ex is None:
            return
        with ex.body:
            if not row.archived:
                return
            headers = [(k, v) for k, v in ex.headers if k.lower() not in DROPPED]
            headers.append(("Content-Length", str(ex.size)))
            status = StatusAndHeaders(f"{ex.status} {ex.reason}".strip(), headers, "HTTP/1.1")
            ex.body.seek(0)
            record = self.writer.create_warc_record(
                ex.url,
                "response",
                payload=ex.body,
                length=ex.size,
                http_headers=status,
                warc_headers_dict={"WARC-Date": ex.date},
            )
            self.writer.write_record(record)
        self.fh.flush()


def keep_records(path: str | os.PathLike[str], count: int) -> bool:
    """Cut a WARC file after its first `count` records; False if it has fewer whole ones."""
    if count == 0:
        with open(path, "wb"):
            return True
    try:
        with open(path, "rb") as fh:
            records = ArchiveIterator(fh)
            for seen, record in enumerate(records, start=1):
                records.read_to_end(record)
                if seen == count:
                    end = records.get_record_offset() + records.get_record_length()
                    break
            else:
                return False
    except (OSError, ArchiveLoadFailed, ValueError, EOFError):
        return False
    os.truncate(path, end)
    return True


def join_warcs(parts: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str]) -> None:
    """Write the parts' records, in order, to out (atomically)."""
    with open_atomic(out) as fh:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, fh, 1 << 20)
