"""Sum a file of integers, one per line, exactly, in parallel over byte ranges."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import partial

from poolpipe.core.bigints import decimal_to_int
from poolpipe.core.chunks import (
    BLOCK_SIZE,
    Range,
    iter_blocks,
    merge_ordered,
    piece_count,
    pieces_for,
    split_file,
    strict_stop,
)
from poolpipe.errors import PoolpipeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    from poolpipe.sum import _scan
except ImportError:  # built without a compiler: the same answers, slower
    from poolpipe.sum import pyscan as _scan

SCANNER = "C" if _scan.__name__.endswith("._scan") else "numpy"
"""Which scanner sums: "C" (the extension) or "numpy" (its fallback, where it was not built)."""


def scanner_note(scanner: str | None = None) -> str | None:
    """A sentence for the user when the sum runs on the slower numpy scanner; None otherwise."""
    if (scanner or SCANNER) == "C":
        return None
    return (
        "the C scanner (poolpipe.sum._scan) is not built here, so the sum runs on its slower"
        " numpy path; the totals are the same"
    )


MAX_EXAMPLES = 10
"""Bad lines kept as examples (all are counted)."""

EXAMPLE_CHARS = 80
_LINE = re.compile(rb"[ \t]*([+-]?[0-9]+)[ \t]*")
_BLANK = re.compile(rb"[ \t]*")


@dataclass(frozen=True)
class BadLine:
    """A line that is not an integer: its 1-based number, its text (cut, escaped), and why."""

    line: int
    text: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class SumPart:
    """A mergeable summary of some consecutive lines; bad line numbers count from its first line."""

    total: int = 0
    numbers: int = 0
    blank_lines: int = 0
    bad_lines: int = 0
    lines: int = 0
    bytes: int = 0
    bad_examples: tuple[BadLine, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SumPart:
        """Inverse of to_json."""
        examples = tuple(BadLine(**ex) for ex in data["bad_examples"])
        return cls(**{**data, "bad_examples": examples})


def merge_parts(parts: Iterable[SumPart]) -> SumPart:
    """Merge parts given in file order into one summary of all their lines."""
    return merge_ordered(
        parts,
        SumPart(),
        counts=("total", "numbers", "blank_lines", "bad_lines", "lines", "bytes"),
        examples="bad_examples",
        limit=MAX_EXAMPLES,
    )


def parse_line(line: bytes) -> int | None:
    """The reference rule for one line (no '\\n'): its integer, None if blank; ValueError if bad."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if _BLANK.fullmatch(line):
        return None
    match = _LINE.fullmatch(line)
    if not match:
        raise ValueError("not an integer")
    return decimal_to_int(match.group(1))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""What a one-line message escapes in a bad line's text (a NUL, a CR): not to the terminal."""

_ALLOWED = frozenset("0123456789+- \t\r")
"""The characters of an integer line: digits, a sign, spaces and tabs, the CR of a CRLF."""


def _example(line: int, raw: bytes, longer_than: int = 0) -> BadLine:
    if raw.endswith(b"\r"):
        raw = raw[:-1]  # a CRLF line's end, not its text
    text = raw.decode("utf-8", errors="backslashreplace")
    if len(text) > EXAMPLE_CHARS:
        text = text[:EXAMPLE_CHARS] + "..."
    return BadLine(line, text, _why(raw, longer_than))


def _why(raw: bytes, longer_than: int) -> str:
    """Why a bad line is not an integer, naming a character a reader may not see (U+00A0)."""
    if longer_than:
        return f"longer than {longer_than:,} bytes"
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return "not UTF-8"
    odd = next((char for char in text if char not in _ALLOWED), None)
    if odd is None:
        return "not an integer"  # the right characters in a wrong order: "1 2", "--1", "+"
    name = "" if odd.isascii() else f" ({unicodedata.name(odd, f'U+{ord(odd):04X}')})"
    return f"not an integer: it holds {odd!r}{name}"


def sum_range(rng: Range, strict: bool = False, block_size: int = BLOCK_SIZE) -> SumPart:
    """Sum the lines of one range, streaming it in blocks; strict stops at the first bad line.

    A line longer than block_size (its newline included) is a bad line.
    """
    total = numbers = blanks = bad = lines = 0
    examples: list[BadLine] = []
    for block in iter_blocks(rng, block_size):
        data = block.data
        longer_than = 0
        if block.overlong:
            bad += 1
            found = [(0, 0, min(len(data), EXAMPLE_CHARS + 1))]
            nlines = 1
            longer_than = block_size
        else:
            hi, lo, n, b, nlines, nbad, found, longs = _scan.scan(data, MAX_EXAMPLES)
            total += (hi << 64) | lo
            numbers += n + len(longs)
            blanks += b
            bad += nbad
            for _, start, end in longs:
                total += decimal_to_int(bytes(data[start:end]))
        for index, start, end in found:
            if len(examples) < MAX_EXAMPLES:
                examples.append(_example(lines + index + 1, bytes(data[start:end]), longer_than))
        if strict and examples:
            first = examples[0]  # its text escaped once already: quoted, not repr()'d again
            shown = _CONTROL.sub(lambda c: f"\\x{ord(c[0]):02x}", first.text)
            raise strict_stop(rng, first.line, f"'{shown}' is {first.reason}")
        lines += nlines
    return SumPart(
        total=total,
        numbers=numbers,
        blank_lines=blanks,
        bad_lines=bad,
        lines=lines,
        bytes=rng.size,
        bad_examples=tuple(examples),
    )


def _sum_piece(rng: Range, strict: bool) -> SumPart:
    """sum_range as a pool's task, looked up by name in the worker (a partial of it pickles)."""
    return sum_range(rng, strict)


MIN_PIECE = 1 << 20
"""The fewest bytes a pool worker is given at once (about 1 ms of scanning). A job under two such
pieces is summed in this process: a pool's start (tens of milliseconds) would cost it more."""


def sum_ranges(
    ranges: list[Range], processes: int, *, strict: bool = False, serial: bool = False
) -> SumPart:
    """Sum consecutive ranges with a pool of `processes` workers, or in this process if serial,
    if processes is 1, or if they make one piece (a pool of one worker would only add its start
    to the same work)."""
    pieces = [piece for rng in ranges for piece in pieces_for(rng, processes, MIN_PIECE)]
    if serial or processes == 1 or len(pieces) < 2:
        return merge_parts(sum_range(piece, strict) for piece in pieces)
    from poolpipe.core.pool import pool_map  # only here: multiprocessing's import is start-up time

    workers = min(processes, len(pieces))  # a worker more than the pieces would have none
    return merge_parts(
        pool_map(partial(_sum_piece, strict=strict), pieces, workers, describe=Range.label)
    )


def processes_for(size: int, processes: int) -> int:
    """The processes sum_ranges sums one range of size bytes with: its pool's, no more than its
    pieces, or 1 for a range of one piece (summed in the calling process)."""
    pieces = piece_count(size, processes, MIN_PIECE)
    return min(processes, pieces) if pieces >= 2 else 1


def result_json(part: SumPart, path: str, *, chunks: int, strict: bool) -> dict[str, Any]:
    """The total.json document; parts summed without strict are not labelled strict."""
    if strict and part.bad_lines:
        raise PoolpipeError(
            f"the parts of {path} count {part.bad_lines} bad line"
            f"{'s' if part.bad_lines != 1 else ''}, where strict stops at the first: they were "
            "summed before sum.strict was turned on (--rerun-triggers mtime keeps them); sum "
            "them again with --forcerun sum_chunk"
        )
    data = part.to_json()
    return {
        "input": path,
        "total": data.pop("total"),
        **data,
        "chunks": chunks,
        "strict": strict,
    }


def sum_file(path: str, processes: int, strict: bool = False) -> dict[str, Any]:
    """Sum a whole file with a pool of `processes` workers: what `poolpipe sum` prints."""
    part = sum_ranges(split_file(path, 1), processes, strict=strict)
    return result_json(part, path, chunks=1, strict=strict)
