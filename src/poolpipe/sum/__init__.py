"""The sum stage: the exact total of a file of integers, one per line, over byte ranges."""

from poolpipe.sum.demo import write_numbers
from poolpipe.sum.numbers import (
    SCANNER,
    SumPart,
    merge_parts,
    result_json,
    scanner_note,
    sum_file,
    sum_ranges,
)

__all__ = [
    "SCANNER",
    "SumPart",
    "merge_parts",
    "result_json",
    "scanner_note",
    "sum_file",
    "sum_ranges",
    "write_numbers",
]
