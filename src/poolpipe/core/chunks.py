"""Byte ranges of a file aligned to line starts: the one way every stage splits its input,
and the one way their partial results are merged back in file order.

A worker is given a Range (path, start, end), never the data; it opens the file
and streams its own bytes in blocks of whole lines.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from poolpipe.core import tsv
from poolpipe.core.identity import InputIdentity, check_identity
from poolpipe.core.inputs import check_input_file, read_small_file
from poolpipe.errors import PoolpipeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    P = TypeVar("P")

BLOCK_SIZE = 4 << 20
"""Bytes a worker reads at a time; also the longest line kept whole (longer ones are cut)."""

_PROBE = 64 << 10
MANIFEST_FIELDS = ("chunk", "path", "start", "end", "size", "mtime_ns", "fingerprint")
"""A manifest row: a chunk's range, and the identity of the input as the split saw it."""


@dataclass(frozen=True)
class Range:
    """Bytes [start, end) of the file at path; both ends are line starts or the range's limits."""

    path: str
    start: int
    end: int

    @property
    def size(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start

    def label(self) -> str:
        """The range as a message names it: 'bytes 0-4096 of data.txt'."""
        return f"bytes {self.start}-{self.end} of {self.path}"


UTF8_BOM = b"\xef\xbb\xbf"
"""The byte-order mark that Windows editors put before UTF-8 text."""


@dataclass(frozen=True)
class Block:
    """Whole lines read from a range; overlong means data is only the head of one long line."""

    data: memoryview
    overlong: bool = False


def line_start_at_or_after(fh, offset: int, limit: int) -> int:
    """First line start at or after offset in an open binary file, or limit if none is before it."""
    if offset <= 0:
        return 0
    if offset >= limit:
        return limit
    fh.seek(offset - 1)
    pos = offset - 1
    while pos < limit:
        probe = fh.read(min(_PROBE, limit - pos))
        if not probe:
            return limit
        nl = probe.find(b"\n")
        if nl >= 0:
            return min(pos + nl + 1, limit)
        pos += len(probe)
    return limit


def split_range(rng: Range, n: int) -> list[Range]:
    """Split a range into n consecutive ranges that cover it exactly once, cut at line starts.

    Ranges may be empty (more pieces than lines); the range's own start must be a line start.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    bounds = [rng.start]
    with open(rng.path, "rb") as fh:
        for i in range(1, n):
            target = rng.start + rng.size * i // n
            cut = line_start_at_or_after(fh, max(target, bounds[-1]), rng.end)
            bounds.append(max(cut, bounds[-1]))
    bounds.append(rng.end)
    return [Range(rng.path, a, b) for a, b in itertools.pairwise(bounds)]


def piece_count(size: int, processes: int, min_size: int = 0) -> int:
    """How many pieces pieces_for cuts a range of size bytes into."""
    n = 4 * processes if processes > 1 else 1
    if min_size > 0:
        n = min(n, size // min_size)
    return max(n, 1)


def pieces_for(rng: Range, processes: int, min_size: int = 0) -> list[Range]:
    """Split a job's range for its pool: a few pieces per process, so uneven ones balance out,
    and no more pieces than min_size-byte ones (one piece for a range under 2 * min_size)."""
    n = piece_count(rng.size, processes, min_size)
    return split_range(rng, n) if n > 1 else [rng]


PIECE_BYTES = BLOCK_SIZE
"""The most bytes of a piece pieces_by_size cuts."""


def pieces_by_size(rng: Range, piece_bytes: int = PIECE_BYTES) -> list[Range]:
    """A range cut into pieces of at most about piece_bytes, none empty. The pieces follow
    the bytes alone, never the pool's size: a result merged piece by piece in floating point
    (a fit, a prediction's scores) is then the same on any number of processes."""
    count = max(1, -(-rng.size // piece_bytes))
    return [piece for piece in split_range(rng, count) if piece.size]


def header_end(path: str | os.PathLike[str]) -> int:
    """Byte offset just past the first line (the header) of a file."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        return line_start_at_or_after(fh, 1, size) if size else 0


def split_file(path: str | os.PathLike[str], n: int, skip_header: bool = False) -> list[Range]:
    """Split a whole file (optionally past its header line) into n line-aligned ranges."""
    p = check_input_file(path)
    size = p.stat().st_size
    start = header_end(p) if skip_header else 0
    return split_range(Range(str(path), start, size), n)


def write_manifest(
    path: str | os.PathLike[str], ranges: list[Range], identity: InputIdentity | None = None
) -> None:
    """Write ranges as a TSV manifest, one row per chunk, each with the input's identity."""
    ident = (identity.size, identity.mtime_ns, identity.fingerprint) if identity else ("", "", "")
    tsv.write(
        path,
        MANIFEST_FIELDS,
        ((i, r.path, r.start, r.end, *ident) for i, r in enumerate(ranges)),
    )


MANIFEST_LIMIT = 64 << 20
"""The most bytes a manifest may hold: at most 1024 rows of a path and a few numbers."""


def _manifest_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of a manifest, or one sentence if the file is not one."""
    data = read_small_file(path, label="chunk manifest", limit=MANIFEST_LIMIT)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PoolpipeError(f"{path} is not a chunk manifest of poolpipe") from None
    import csv  # loaded on first use: `poolpipe sum` reads no manifest

    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    if tuple(reader.fieldnames or ()) != MANIFEST_FIELDS:
        raise PoolpipeError(f"{path} is not a chunk manifest of poolpipe")
    rows = list(reader)
    if any(None in row or None in row.values() for row in rows):
        raise PoolpipeError(f"{path} is not a chunk manifest of poolpipe: a row of another width")
    if not all(_count(row[k]) for row in rows for k in ("chunk", "start", "end")) or not all(
        row[k] == "" or _count(row[k]) for row in rows for k in ("size", "mtime_ns")
    ):
        raise PoolpipeError(f"{path} is not a chunk manifest of poolpipe: a number that is not one")
    return rows


def _count(text: str) -> bool:
    """Whether a manifest field is a whole number as write_manifest writes it (up to 20 digits)."""
    return 0 < len(text) <= 20 and text.isascii() and text.isdigit()


def read_manifest(path: str | os.PathLike[str]) -> list[Range]:
    """Read a manifest written by write_manifest."""
    return [
        Range(tsv.unescape(row["path"]), int(row["start"]), int(row["end"]))
        for row in _manifest_rows(path)
    ]


def read_manifest_identity(path: str | os.PathLike[str]) -> InputIdentity | None:
    """The input's identity a manifest recorded, or None if it recorded none."""
    rows = _manifest_rows(path)
    if not rows or not rows[0]["size"]:
        return None
    row = rows[0]
    return InputIdentity(
        path=tsv.unescape(row["path"]),
        size=int(row["size"]),
        mtime_ns=int(row["mtime_ns"]),
        fingerprint=row["fingerprint"],
    )


def checked_manifest(
    path: str | os.PathLike[str], *, dataset: str, chunks: int | None = None
) -> list[Range]:
    """A manifest's ranges, once its input is checked to be still the file that was split;
    with chunks (the parts a merge was given), once the split cut that many: a split kept from
    before the chunk count changed (Snakemake's --rerun-triggers mtime keeps it) would
    otherwise leave chunks out of the result."""
    identity = read_manifest_identity(path)
    if identity is None:
        raise PoolpipeError(f"dataset {dataset!r}: {path} records no input identity; split again")
    check_identity(identity, dataset=dataset)
    ranges = read_manifest(path)
    if chunks is not None and chunks != len(ranges):
        raise PoolpipeError(_stale_split(path, dataset, len(ranges), f"not the {chunks} asked for"))
    return ranges


def checked_chunk(path: str | os.PathLike[str], *, dataset: str, index: int) -> Range:
    """Chunk `index` of a checked manifest, or one sentence when the split cut fewer."""
    ranges = checked_manifest(path, dataset=dataset)
    if index >= len(ranges):
        raise PoolpipeError(_stale_split(path, dataset, len(ranges), f"so no chunk {index}"))
    return ranges[index]


def _stale_split(path: str | os.PathLike[str], dataset: str, cut: int, asked: str) -> str:
    """The sentence for a split that no longer matches the dataset's chunk count."""
    return (
        f"dataset {dataset!r}: {path} holds {cut} chunk{'s' if cut != 1 else ''}, {asked}: "
        "it was split before the chunk count changed (--rerun-triggers mtime does not split "
        "again); delete it and run again"
    )


def iter_blocks(rng: Range, block_size: int = BLOCK_SIZE) -> Iterator[Block]:
    """Stream a range as blocks of whole lines, reusing one buffer (bounded memory); a UTF-8
    byte-order mark that starts the file is left out.

    Each block is valid until the next is requested. A line longer than block_size
    comes as one overlong block holding its first block_size bytes; the rest is skipped.
    """
    # A range smaller than a block is read whole in one call: a buffer of its size spares
    # zeroing (and faulting in) a full block for a short range.
    buf = bytearray(max(0, min(block_size, rng.size)))
    view = memoryview(buf)
    with open(rng.path, "rb", buffering=0) as fh:
        fh.seek(rng.start)
        remaining = rng.size
        if rng.start == 0 and fh.read(len(UTF8_BOM)) == UTF8_BOM and rng.size >= len(UTF8_BOM):
            remaining -= len(UTF8_BOM)  # the mark some editors put first is not text
        else:
            fh.seek(rng.start)
        # carry: bytes at the head of buf that are the start of a line whose end was not read
        # yet; the next read appends to them so the line comes out whole.
        carry = 0
        # skipping: the head of an overlong line was yielded; its tail is read and dropped up
        # to its newline, so the next block starts at a line start again.
        skipping = False
        while True:
            want = min(block_size - carry, remaining)
            got = fh.readinto(view[carry : carry + want]) if want else 0
            if want and not got:
                raise PoolpipeError(f"{rng.path} shrank while it was being read")
            remaining -= got
            filled = carry + got
            if skipping:
                nl = buf.find(b"\n", 0, filled)
                if nl < 0:  # the whole read is still the overlong line's tail: drop it all
                    carry = 0
                    if remaining == 0:
                        return
                    continue
                # Its newline is here: drop the tail up to it, and go on with what follows.
                skipping = False
                buf[: filled - nl - 1] = buf[nl + 1 : filled]
                filled -= nl + 1
            if remaining == 0:
                # The range's end is a line start (or the file's end): what is left is whole.
                if filled:
                    yield Block(view[:filled])
                return
            cut = buf.rfind(b"\n", 0, filled) + 1
            if cut == 0 and filled < block_size:
                # No newline yet but room left (a short read): read more behind it.
                carry = filled
                continue
            if cut == 0:
                # A full buffer with no newline: one line longer than a block. Yield its head
                # as overlong (memory stays bounded) and skip the rest of it.
                yield Block(view[:filled], overlong=True)
                skipping = True
                carry = 0
                continue
            yield Block(view[:cut])
            # The bytes after the last newline start a line the next read finishes: move them
            # to the front (the caller is done with the block once it asks for the next one).
            carry = filled - cut
            buf[:carry] = buf[cut:filled]


def lines_before(path: str | os.PathLike[str], offset: int, start: int = 0) -> int:
    """Newlines from start up to offset: the line starting at offset is number lines_before + 1
    (with start 0)."""
    count = 0
    left = offset - start
    with open(path, "rb") as fh:
        fh.seek(start)
        while left > 0:
            data = fh.read(min(BLOCK_SIZE, left))
            if not data:
                break
            count += data.count(b"\n")
            left -= len(data)
    return count


# --- partial results of consecutive line ranges, merged in file order: the one merge loop ---
#
# A part counts things over its own lines and keeps a few examples (bad lines, skipped rows)
# numbered from its own first line. Merged in file order, the counts add up and each example
# is renumbered from the first line of the whole, up to a limit.


def merge_ordered(
    parts: Iterable[P],
    empty: P,
    *,
    counts: Sequence[str],
    examples: str,
    limit: int,
    combine: Callable[[P, P], P] | None = None,
) -> P:
    """Merge parts given in file order into one part of all their lines.

    counts name the fields that add up (one must be `lines`); examples names the tuple of
    records with a `line` field; combine merges what is neither (e.g. a regression summary).
    """
    totals = dict.fromkeys(counts, 0)
    kept: list[Any] = []
    merged = empty
    for part in parts:
        for example in getattr(part, examples):
            if len(kept) < limit:
                kept.append(dataclasses.replace(example, line=example.line + totals["lines"]))
        for name in counts:
            totals[name] += getattr(part, name)
        if combine is not None:
            merged = combine(merged, part)
    return dataclasses.replace(merged, **totals, **{examples: tuple(kept)})  # type: ignore[type-var]


def strict_stop(rng: Range, line: int, problem: str) -> PoolpipeError:
    """What strict mode raises at the first bad line of a range (line counts from 1 at its start):
    the line's number in the whole file, counted only now, as only a failing run needs it."""
    number = lines_before(rng.path, rng.start) + line
    path = rng.path if rng.path.isprintable() else repr(rng.path)  # a newline kept on one line
    return PoolpipeError(f"{path}, line {number}: {problem} (strict mode stops here)")
