"""The sum stage: the exact total of a file of integers, one per line, over byte ranges."""

from poolpipe.sum.demo import write_numbers
from poolpipe.sum.numbers import SumPart, merge_parts, result_json, sum_file, sum_ranges

__all__ = [
    "SumPart",
    "merge_parts",
    "result_json",
    "sum_file",
    "sum_ranges",
    "write_numbers",
]
