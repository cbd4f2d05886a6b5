"""A CSV file's header and first lines: the names, the delimiter, the columns that hold numbers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from poolpipe.core.chunks import BLOCK_SIZE, Range, header_end, iter_blocks
from poolpipe.core.inputs import check_input_file
from poolpipe.errors import PoolpipeError
from poolpipe.train.rowrule import is_blank, parse_cell, split_fields

SAMPLE_LINES = 1000
"""Data lines read to decide which columns are numeric when no features are named."""

_BOM = b"\xef\xbb\xbf"


def read_header(path: str | os.PathLike[str], delimiter: str) -> tuple[str, ...]:
    """The header's field names (a leading byte-order mark and spaces around names removed)."""
    check_input_file(path)
    end = header_end(path)
    if end == 0:
        raise PoolpipeError(f"{path} is empty; a CSV file with a header line is expected")
    if end > BLOCK_SIZE:
        raise PoolpipeError(
            f"{path}: the header line is {end:,} bytes, longer than the {BLOCK_SIZE:,} bytes a "
            "line may have"
        )
    with open(path, "rb") as fh:
        line = fh.read(min(end, BLOCK_SIZE)).rstrip(b"\n").rstrip(b"\r")
    if line.startswith(_BOM):
        line = line[len(_BOM) :]
    fields = split_fields(line, delimiter.encode())
    if fields is None or not line.strip():
        raise PoolpipeError(f"{path}: the header line is not a CSV header")
    names = [f.decode("utf-8", errors="backslashreplace").strip() for f in fields]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(names)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise PoolpipeError(f"{path}: the header names column {name!r} twice")
        seen.add(name)
    return tuple(names)


def sample_lines(path: str | os.PathLike[str], limit: int = SAMPLE_LINES) -> list[bytes]:
    """The first data lines after the header (at most limit, blank ones left out)."""
    start = header_end(path)
    size = os.path.getsize(path)
    lines: list[bytes] = []
    for block in iter_blocks(Range(str(path), start, size)):
        if block.overlong:
            continue
        for raw in bytes(block.data).split(b"\n"):
            if not is_blank(raw.rstrip(b"\r")):
                lines.append(raw.rstrip(b"\r"))
                if len(lines) >= limit:
                    return lines
    return lines


def numeric_fields(header: Sequence[str], lines: Iterable[bytes], delimiter: str) -> list[int]:
    """Fields where more than half of the sample's non-empty cells are numbers."""
    numbers = [0] * len(header)
    others = [0] * len(header)
    for line in lines:
        fields = split_fields(line, delimiter.encode())
        if fields is None or len(fields) != len(header):
            continue
        for i, cell in enumerate(fields):
            value = parse_cell(cell)
            if not isinstance(value, str):
                numbers[i] += 1
            elif value != "empty":
                others[i] += 1
    return [i for i in range(len(header)) if numbers[i] > others[i]]


def check_delimiter(delimiter: str) -> None:
    """A delimiter is one ASCII character other than a quote, space or line break."""
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\n\r \0':
        raise PoolpipeError(
            f"the delimiter must be one ASCII character other than a quote, space or line break,"
            f" not {delimiter!r}"
        )
