"""The sum stage: the exact total of a file of integers, one per line, over byte ranges."""

from poolpipe.sum.demo import write_numbers
from poolpipe.sum.numbers import (
    BadLine,
    SumPart,
    merge,
    result_json,
    sum_file,
    sum_range,
    sum_ranges,
)

__all__ = [
    "BadLine",
    "SumPart",
    "merge",
    "result_json",
    "sum_file",
    "sum_range",
    "sum_ranges",
    "write_numbers",
]
