"""The columns of a CSV file a fit uses: the header, the numeric fields, a reference row."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from poolpipe.core.chunks import Range, header_end, iter_blocks
from poolpipe.errors import PoolpipeError
from poolpipe.train.csvparse import parse_block
from poolpipe.train.header import (
    check_delimiter,
    numeric_fields,
    read_header,
    sample_lines,
)

_UNUSED = 255
_MAX_USED = 255


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


def _index(path: str | os.PathLike[str], header: tuple[str, ...], name: str, role: str) -> int:
    try:
        return header.index(name)
    except ValueError:
        shown = ", ".join(repr(h) for h in header[:20]) + (", ..." if len(header) > 20 else "")
        raise PoolpipeError(
            f"{path} has no {role} column {name!r}; its columns are {shown}"
        ) from None


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
    target_at = _index(path, header, target, "target")
    weight_at = _index(path, header, weights, "weights") if weights else None
    if weight_at == target_at:
        raise PoolpipeError(f"the target {target!r} is also named as the weights column")
    if features:
        chosen = [_index(path, header, name, "feature") for name in features]
        if len(set(chosen)) != len(chosen):
            raise PoolpipeError("a feature is named twice in the features list")
        if target_at in chosen:
            raise PoolpipeError(f"the target {target!r} is also named as a feature")
        if weight_at in chosen:
            raise PoolpipeError(f"the weights column {weights!r} is also named as a feature")
    else:
        numeric = numeric_fields(header, sample_lines(path), delimiter)
        chosen = [i for i in numeric if i not in (target_at, weight_at)]
        if not chosen:
            raise PoolpipeError(
                f"{path} has no numeric column besides the target {target!r} to use as a feature"
            )
    if len(chosen) + (weight_at is not None) >= _MAX_USED:
        raise PoolpipeError(f"at most {_MAX_USED - 1} features are supported, not {len(chosen)}")
    columns = Columns(
        path=str(path),
        delimiter=delimiter,
        header=header,
        features=tuple(chosen),
        target=target_at,
        weight=weight_at,
    )
    return replace(columns, reference=first_good_row(columns))
