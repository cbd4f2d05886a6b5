"""The reference rule for one CSV row, in Python: its fields, a cell's number, and a line's
values or why it is bad (poolpipe.train._csv holds the same rule in C)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from poolpipe.train.columns import Columns

_NUMBER = re.compile(rb"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
_BLANK = re.compile(rb"[ \t]*")


MALFORMED_QUOTES = (
    "malformed quotes: a quoted field must close on its own line (one spanning lines is not read)"
)


def split_fields(line: bytes, delimiter: bytes) -> list[bytes] | None:
    """The fields of one line (no newline, no '\\r'), unquoted; None if its quotes are malformed."""
    fields: list[bytes] = []
    pos, end = 0, len(line)
    while True:
        if pos < end and line[pos : pos + 1] == b'"':
            out = bytearray()
            q = pos + 1
            while True:
                close = line.find(b'"', q)
                if close < 0:
                    return None
                out += line[q:close]
                if line[close + 1 : close + 2] == b'"':
                    out += b'"'
                    q = close + 2
                    continue
                break
            pos = close + 1
            if pos < end and line[pos : pos + 1] != delimiter:
                return None
            fields.append(bytes(out))
        else:
            stop = line.find(delimiter, pos)
            stop = end if stop < 0 else stop
            fields.append(line[pos:stop])
            pos = stop
        if pos < end:
            pos += 1
            continue
        return fields


def is_blank(line: bytes) -> bool:
    """Whether a line (no newline) holds only spaces and tabs."""
    return _BLANK.fullmatch(line) is not None


def parse_cell(cell: bytes) -> float | str:
    """The number in one field, or why it is not one ("empty", "not a number", ...)."""
    if is_blank(cell):
        return "empty"
    if not _NUMBER.fullmatch(cell):
        return "not a number"
    value = float(cell)
    if not math.isfinite(value):
        return "not a finite number"
    return value


def parse_line(line: bytes, columns: Columns) -> tuple[float, ...] | str | None:
    """The reference rule for one line (no '\\n'): its used values, None if blank, else why bad."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if is_blank(line):
        return None
    fields = split_fields(line, columns.delimiter.encode())
    if fields is None:
        return MALFORMED_QUOTES
    if len(fields) != len(columns.header):
        count = f"{len(fields)} field" + ("" if len(fields) == 1 else "s")
        return f"has {count}, the header has {len(columns.header)}"
    values = {}
    for index in sorted(columns.used):
        value = parse_cell(fields[index])
        if isinstance(value, str):
            shown = fields[index].decode("utf-8", errors="backslashreplace")[:20]
            where = f"column {columns.header[index]!r}"
            return f"{where} is empty" if value == "empty" else f"{where} is {value}: {shown!r}"
        values[index] = value
    return tuple(values[index] for index in columns.used)
