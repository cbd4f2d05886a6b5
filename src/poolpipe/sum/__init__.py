"""The sum stage: the exact total of a file of integers, one per line, over byte ranges."""

from __future__ import annotations

from poolpipe.sum.numbers import (
    SCANNER,
    SumPart,
    merge_parts,
    processes_for,
    result_json,
    scanner_note,
    sum_file,
    sum_ranges,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SCANNER",
    "SumPart",
    "merge_parts",
    "processes_for",
    "result_json",
    "scanner_note",
    "sum_file",
    "sum_ranges",
    "write_numbers",
]


def __getattr__(name: str) -> Any:
    """write_numbers, imported on first use: it needs numpy, which summing does not."""
    if name == "write_numbers":
        from poolpipe.sum.demo import write_numbers

        return write_numbers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
