"""The columns of a CSV file a fit uses: the header read, the target, features and weights
named or found numeric in it, and the first good row as the reference.

split_train chooses them once and writes them as columns.json; every later job reads that
file back (Columns.read), so all chunks read the same fields with the same reference row.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from poolpipe.core.chunks import BLOCK_SIZE, UTF8_BOM, Range, header_end, iter_blocks
from poolpipe.core.inputs import check_text_file, read_small_file
from poolpipe.errors import PoolpipeError
from poolpipe.train.rows import is_blank, parse_block, parse_cell, split_fields

SAMPLE_LINES = 1000
"""Data lines read to decide which columns are numeric when no features are named."""

READ_LIMIT = 64 * BLOCK_SIZE
"""The largest JSON file this stage reads back (columns.json, a part, a model.json): 256 MiB.
What it writes stays below: a header is at most BLOCK_SIZE bytes and a columns.json holds at
most about 48 bytes of JSON per byte of it (a header of empty names, each written twice as
"Unnamed: N"); a part's cross-products are at most 255 x 255 numbers (2 MB)."""

NUMBER_DIGITS = 400
"""A number in a JSON file read back with more characters than this is refused before it is
converted (int() of 100,000 digits is slow, float() of it overflows)."""

_UNUSED = 255
"""The slot of a field the fit does not read (Columns.slots): so at most 254 fields are read."""


@dataclass(frozen=True, kw_only=True)
class Columns:
    """The fields of a CSV file a fit uses (features, the target, the weights) and a reference row.

    The reference row is the first good row of the file; every chunk subtracts it
    before summarising, so large offsets cost no precision. target is None where
    only the features are read (predictions); weight is None for an unweighted fit.
    """

    path: str
    delimiter: str
    header: tuple[str, ...]
    features: tuple[int, ...]
    target: int | None
    reference: tuple[float, ...] = ()
    weight: int | None = None

    @property
    def feature_names(self) -> list[str]:
        """The features' names, in fit order."""
        return [self.header[i] for i in self.features]

    @property
    def target_name(self) -> str | None:
        """The target's name."""
        return None if self.target is None else self.header[self.target]

    @property
    def weight_name(self) -> str | None:
        """The weight column's name, None for an unweighted fit."""
        return None if self.weight is None else self.header[self.weight]

    @property
    def used(self) -> tuple[int, ...]:
        """Field indexes of the parsed columns: the features, the target, the weights."""
        extra = [i for i in (self.target, self.weight) if i is not None]
        return (*self.features, *extra)

    @property
    def width(self) -> int:
        """Number of parsed columns."""
        return len(self.used)

    @property
    def fit_width(self) -> int:
        """Number of columns of the fitted rows [X y]."""
        return len(self.features) + 1

    @property
    def ignored(self) -> list[str]:
        """Names of the header's fields that the fit does not use."""
        used = set(self.used)
        return [name for i, name in enumerate(self.header) if i not in used]

    def slots(self) -> bytes:
        """For each header field, its output column in the parsed rows (255: unused)."""
        out = bytearray([_UNUSED]) * len(self.header)
        for slot, index in enumerate(self.used):
            out[index] = slot
        return bytes(out)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "input": self.path,
            "delimiter": self.delimiter,
            "header": list(self.header),
            "target": self.target_name,
            "features": self.feature_names,
            "ignored_columns": self.ignored,
            "target_field": self.target,
            "feature_fields": list(self.features),
            "reference_row": list(self.reference),
            "weights": self.weight_name,
            "weight_field": self.weight,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Columns:
        """Inverse of to_json."""
        return cls(
            path=data["input"],
            delimiter=data["delimiter"],
            header=tuple(data["header"]),
            features=tuple(data["feature_fields"]),
            target=data["target_field"],
            reference=tuple(data["reference_row"]),
            weight=data.get("weight_field"),
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Columns:
        """The columns.json split_train wrote, or one sentence if the file is not one."""
        what = "a columns.json of split_train"
        data = read_json_file(path, label="columns file", what=what)
        try:
            columns = cls.from_json(data)
            problem = columns._problem()
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            raise PoolpipeError(f"{path} is not {what}: {problem}")
        return columns

    def _problem(self) -> str | None:
        """What makes these columns impossible (a corrupt columns.json), or None."""
        fields = range(len(self.header))
        used = [self.target, *self.features, *([] if self.weight is None else [self.weight])]
        if not isinstance(self.path, str) or not isinstance(self.delimiter, str):
            return "its input or delimiter is not text"
        if len(self.delimiter) != 1:
            return f"its delimiter {self.delimiter!r} is not one character"
        if not self.header or not all(isinstance(name, str) for name in self.header):
            return "its header is not a list of names"
        if not all(type(i) is int and i in fields for i in used) or len(set(used)) != len(used):
            return "its fields are not distinct columns of its header"
        if len(self.features) >= _UNUSED or len(self.reference) != self.fit_width:
            return "its features or reference row have the wrong length"
        if not all(type(v) in (int, float) and math.isfinite(v) for v in self.reference):
            return "its reference row is not finite numbers"
        return None


def _parse_float(text: str) -> float:
    if len(text) > NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text):,} characters")
    return float(text)


def parse_int(text: str) -> int:
    """An integer of a JSON file read back; one of more than NUMBER_DIGITS characters refused."""
    if len(text) > NUMBER_DIGITS:
        raise ValueError(f"a number of {len(text):,} characters")
    return int(text)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json_file(
    path: str | os.PathLike[str], *, label: str, what: str, parse_int: Any = parse_int
) -> Any:
    """A JSON file this stage wrote and reads back, or one sentence: missing, not a regular file,
    over READ_LIMIT, not JSON, a number too long, nested too deeply.

    label names the file where it cannot be read ("model"), what where it is not what it should
    be ("a model.json"); parse_int may turn integers into what the caller needs.
    """
    data = read_small_file(path, label=label, limit=READ_LIMIT)
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_float=_parse_float,
            parse_int=parse_int,
            parse_constant=_constant,
        )
    except RecursionError:
        raise PoolpipeError(f"{path} is not {what}: it is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoolpipeError(f"{path} is not {what}: it is not JSON ({exc})") from None


def _field(path: str, header: tuple[str, ...], name: str, role: str, delimiter: str) -> int:
    try:
        return header.index(name)
    except ValueError:
        shown = ", ".join(_quoted(h) for h in header[:20]) + (", ..." if len(header) > 20 else "")
        hint = delimiter_hint(header, delimiter)
        raise PoolpipeError(
            f"{path} has no {role} column {name!r}; its columns are {shown}{hint}"
        ) from None


_USUAL_DELIMITERS = (",", ";", "\t", "|")


def delimiter_hint(header: tuple[str, ...], delimiter: str) -> str:
    """Where a header is one column holding another usual delimiter, a question naming it."""
    if len(header) == 1:
        for other in _USUAL_DELIMITERS:
            if other != delimiter and other in header[0]:
                return f" (one column holding {other!r}: is the delimiter {other!r}?)"
    return ""


def _split_hint(line: bytes, delimiter: str) -> str:
    """Where a header that does not split on delimiter splits on another usual one (a quoted
    semicolon export read with a comma), a question naming it."""
    for other in _USUAL_DELIMITERS:
        if other != delimiter and len(split_fields(line, other.encode()) or ()) > 1:
            return f" with {delimiter!r} (is the delimiter {other!r}?)"
    return ""


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _short(name: str, limit: int = 40) -> str:
    """A column name as an error shows it: at most limit characters."""
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _quoted(name: str) -> str:
    """A column name in quotes as an error shows it: short, control characters escaped, and a
    byte that was not UTF-8 (read as '\\x91') shown once escaped, not twice as repr() would."""
    return "'" + _CONTROL.sub(lambda c: ascii(c[0])[1:-1], _short(name)) + "'"


def check_delimiter(delimiter: str) -> None:
    """A delimiter is one ASCII character other than a quote, space or line break."""
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\n\r \0':
        raise PoolpipeError(
            f"the delimiter must be one ASCII character other than a quote, space or line break,"
            f" not {delimiter!r}"
        )


def read_header(path: str | os.PathLike[str], delimiter: str) -> tuple[str, ...]:
    """The header's field names (a leading byte-order mark and spaces around names removed)."""
    check_text_file(path, "text CSV file")
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
    if line.startswith(UTF8_BOM):
        line = line[len(UTF8_BOM) :]
    fields = split_fields(line, delimiter.encode())
    if not line.strip():
        raise PoolpipeError(f"{path}: the first line is blank; the header must be the first line")
    if fields is None:
        raise PoolpipeError(
            f"{path}: the header line is not a CSV header{_split_hint(line, delimiter)}"
        )
    given = [f.decode("utf-8", errors="backslashreplace").strip() for f in fields]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(given)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            blank = next((i for i, n in enumerate(names) if n == name and not given[i]), None)
            if blank is not None:  # the name a blank one is given, pandas' way, is taken
                raise PoolpipeError(
                    f"{path}: column {blank + 1} of the header has no name, and {name!r}, the "
                    "name it would be given, is another column's: name it"
                )
            raise PoolpipeError(f"{path}: the header names column {_quoted(name)} twice")
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


_DECIMAL_COMMA = re.compile(rb"\s*[-+]?[0-9]+,[0-9]+\s*")


def _comma_hint(lines: Iterable[bytes], delimiter: str) -> str:
    """Where a sample's cells are numbers written with a decimal comma ('1,5'), a note saying
    so; numbers take a decimal point."""
    for line in lines:
        for cell in split_fields(line, delimiter.encode()) or ():
            if _DECIMAL_COMMA.fullmatch(cell):
                text = cell.decode("ascii").strip()
                return f" (cells such as {text!r} have a decimal comma; numbers take a '.')"
    return ""


def first_good_row(columns: Columns) -> tuple[float, ...]:
    """The first good row of the file (features, then target); zeros if there is none."""
    rng = Range(columns.path, header_end(columns.path), os.path.getsize(columns.path))
    for block in iter_blocks(rng):
        if block.overlong:
            continue
        parsed = parse_block(block.data, columns, max_examples=0)
        if len(parsed.values):
            return tuple(float(v) for v in parsed.values[0][: columns.fit_width])
    return (0.0,) * columns.fit_width


def choose_columns(
    path: str | os.PathLike[str],
    target: str,
    *,
    features: Sequence[str] = (),
    delimiter: str = ",",
    weights: str = "",
) -> Columns:
    """The target, features and weights by name (features: every other numeric column)."""
    check_delimiter(delimiter)
    header = read_header(path, delimiter)
    if os.path.getsize(path) <= header_end(path) or not sample_lines(path, 1):
        raise PoolpipeError(f"{path} has a header but no data rows")
    target_at = _field(str(path), header, target, "target", delimiter)
    weight_at = _field(str(path), header, weights, "weights", delimiter) if weights else None
    if weight_at == target_at:
        raise PoolpipeError(f"the target {target!r} is also named as the weights column")
    if features:
        chosen = [_field(str(path), header, name, "feature", delimiter) for name in features]
        if len(set(chosen)) != len(chosen):
            raise PoolpipeError("a feature is named twice in the features list")
        if target_at in chosen:
            raise PoolpipeError(f"the target {target!r} is also named as a feature")
        if weight_at in chosen:
            raise PoolpipeError(f"the weights column {weights!r} is also named as a feature")
    else:
        sample = sample_lines(path)
        numeric = numeric_fields(header, sample, delimiter)
        chosen = [i for i in numeric if i not in (target_at, weight_at)]
        if not chosen:
            raise PoolpipeError(
                f"{path} has no numeric column besides the target {target!r} to use as a feature"
                + _comma_hint(sample, delimiter)
            )
    if len(chosen) + (weight_at is not None) >= _UNUSED:
        raise PoolpipeError(f"at most {_UNUSED - 1} features are supported, not {len(chosen)}")
    columns = Columns(
        path=str(path),
        delimiter=delimiter,
        header=header,
        features=tuple(chosen),
        target=target_at,
        weight=weight_at,
    )
    return replace(columns, reference=first_good_row(columns))
