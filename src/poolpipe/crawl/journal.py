"""The journal of a crawl job: rows written as they complete, so a killed job resumes.

A job that writes OUT keeps its journal in OUT.journal/ until OUT is complete: identity.json
(what the job crawls and how: the range, the input file's size and mtime, a hash of the
range's bytes, the pieces, the settings) and one file of JSON lines per piece, each a prefix
of that piece's rows in input order (with the WARC store, also the piece's WARC file, cut to
the records of those rows), and the robots.txt answers the job has fetched, so that neither
its processes nor a resumed run ask a host for robots.txt again.
A re-run with the same identity keeps every complete row and crawls on after the last; a
journal of anything else, or one that cannot be read, is set aside and the job starts over.
A row half-written when the job was killed is cut off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poolpipe.core.chunks import Range
from poolpipe.core.outputs import dumps_json, write_json
from poolpipe.crawl.rows import PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.warc import keep_records
from poolpipe.errors import PoolpipeError

log = logging.getLogger(__name__)

SUFFIX = ".journal"
HASH_BLOCK = 1 << 20
ROBOTS_FOLDER = "robots"
"""The journal's folder of robots.txt answers, shared by the job's processes (RobotsStore)."""


@dataclass(frozen=True)
class PieceJournal:
    """A piece's journal file, and the last input line it already has a row for (0: none)."""

    path: str
    done_through: int
    warc: str = ""


def journal_dir(out: str | os.PathLike[str]) -> Path:
    """The journal folder of a job that writes out."""
    out = Path(out)
    return out.with_name(out.name + SUFFIX)


def identity(rng: Range, settings: CrawlSettings, pieces: list[tuple[Range, int]]) -> dict:
    """What a journal must match to be resumed: the input and its range, the pieces and the
    settings (the demo site's address, which changes from run to run, aside).

    Size and mtime miss a URL edited in place with its mtime put back, so the range's bytes
    are hashed too: a URL file is small next to the crawl of it.
    """
    stat = os.stat(rng.path)
    config: dict[str, Any] = settings.to_json()
    config.pop("hosts")
    return {
        "path": os.path.abspath(rng.path),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "range": [rng.start, rng.end],
        "sha256": range_digest(rng),
        "pieces": [[p.start, p.end, first] for p, first in pieces],
        "settings": config,
    }


def range_digest(rng: Range) -> str:
    """The SHA-256 of a range's bytes (hex)."""
    digest = hashlib.sha256()
    with open(rng.path, "rb") as fh:
        fh.seek(rng.start)
        left = rng.end - rng.start
        while left > 0:
            block = fh.read(min(left, HASH_BLOCK))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def open_journal(
    out: str | os.PathLike[str], ident: dict, pieces: list[tuple[Range, int]], *, warc: bool
) -> list[PieceJournal]:
    """The journal of each piece: resumed if the journal beside out has this identity, else
    new."""
    folder = journal_dir(out)
    try:
        return _open(folder, json.loads(dumps_json(ident)), pieces, warc)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PoolpipeError(f"the crawl's journal {folder} cannot be kept: {reason}") from None


def _open(
    folder: Path, ident: dict, pieces: list[tuple[Range, int]], warc: bool
) -> list[PieceJournal]:
    stamp = folder / "identity.json"
    found = _read_identity(stamp) if folder.is_dir() and not folder.is_symlink() else None
    if found != ident:
        if found is not None or folder.exists() or folder.is_symlink():
            log.warning("%s is from other input or settings; starting the job over", folder)
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
        elif folder.exists() or folder.is_symlink():
            folder.unlink()
        folder.mkdir(parents=True)
        write_json(stamp, ident)
    journals = []
    for i, (piece, first) in enumerate(pieces):
        path = folder / f"{i}.jsonl"
        last, archived = _recover(path, first, piece)
        records = folder / f"{i}.warc.gz"
        if warc and not keep_records(records, archived):
            log.warning("%s lacks records its journal has rows for; the piece starts over", records)
            path.write_bytes(b"")
            records.write_bytes(b"")
            last = 0
        journals.append(PieceJournal(str(path), last, str(records) if warc else ""))
    return journals


def _read_identity(stamp: Path) -> dict | None:
    try:
        return json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _recover(path: Path, first: int, piece: Range) -> tuple[int, int]:
    """Keep the complete, well-formed rows of a piece's journal; the last line they cover, and
    how many of them have a response in the WARC store."""
    if not path.exists():
        return 0, 0
    keep = 0
    last = 0
    archived = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                row = PageRow.from_jsonl(line)
            except (ValueError, TypeError):
                log.warning("%s: a row that cannot be read; the piece resumes before it", path)
                break
            if row.line <= last or row.line < first:
                log.warning("%s: rows out of order; the piece resumes before them", path)
                break
            last = row.line
            archived += row.archived
            keep += len(line)
    if keep != path.stat().st_size:
        os.truncate(path, keep)
    if last:
        log.info("resuming %s after line %d (bytes %d-%d)", path, last, piece.start, piece.end)
    return last, archived
