"""TSV files written one way: a header line, then one line per row, every field escaped alike.

A field is a value as text: None is empty, a bool is true or false, a tuple is its items
joined by commas, a float is Python's shortest round-trip form; backslash, tab, newline,
carriage return and NUL are written as \\\\, \\t, \\n, \\r and \\0, so every row is one line
of text that any reader takes whole.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Sequence

from poolpipe.core.outputs import open_atomic

ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\0]").search
"""Whether a text has a character to escape (most have none, and translate is slower)."""

_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "0": "\0"}
_ESCAPED = re.compile(r"\\(.)")


def unescape(text: str) -> str:
    """The value a field was written from (its text; the inverse of the escaping)."""
    return _ESCAPED.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(0)), text)


def records(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """The rows of a TSV document as written here, header first: each line one row of unescaped
    fields by column name (no quoting: a quote is text); ValueError naming a line of another
    width (a damaged file: no row is dropped unsaid)."""
    found = iter(lines)
    head = next(found, "").rstrip("\n").split("\t")
    for number, text in enumerate(found, start=2):
        cells = text.rstrip("\n").split("\t")
        if len(cells) != len(head):
            raise ValueError(f"line {number} has {len(cells)} fields, the header {len(head)}")
        yield {name: unescape(cell) for name, cell in zip(head, cells, strict=True)}


def field(value: object) -> str:
    """The text of one TSV field."""
    kind = value.__class__
    if kind is str:
        return value.translate(ESCAPES) if _NEEDS_ESCAPE(value) else value  # type: ignore[union-attr]
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(field(v) for v in value)
    return str(value).translate(ESCAPES)


def line(values: Iterable[object]) -> str:
    """One TSV line, newline-ended."""
    return "\t".join([field(v) for v in values]) + "\n"


def text(names: Sequence[str], rows: Iterable[Iterable[object]]) -> str:
    """A whole TSV document: the header line and every row."""
    return "\t".join(names) + "\n" + "".join(line(row) for row in rows)


def write(
    path: str | os.PathLike[str], names: Sequence[str], rows: Iterable[Iterable[object]]
) -> int:
    """Stream rows to a TSV file atomically, the header first; return the number of rows."""
    count = 0
    with open_atomic(path) as fh:
        fh.write(("\t".join(names) + "\n").encode())
        for row in rows:
            fh.write(line(row).encode("utf-8"))
            count += 1
    return count


def write_records(path: str | os.PathLike[str], records: Sequence[object]) -> int:
    """Write dataclass records as a TSV, one column per field (no header fields if none)."""
    names = [f.name for f in dataclasses.fields(records[0])] if records else []  # type: ignore[arg-type]
    return write(path, names, ([getattr(r, n) for n in names] for r in records))
