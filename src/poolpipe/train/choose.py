"""Which columns of a CSV file a fit uses: the target, features and weights named or found
numeric in the header, and the first good row as the reference."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from poolpipe.core.chunks import Range, header_end, iter_blocks
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns
from poolpipe.train.csvparse import parse_block
from poolpipe.train.header import check_delimiter, numeric_fields, read_header, sample_lines

_MAX_USED = 255


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
