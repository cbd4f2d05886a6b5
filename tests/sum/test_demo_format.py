"""The demo numbers file is built in whole arrays, byte for byte what str() would write."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from poolpipe.sum.demo import BAD_SAMPLES, NUMBER_BOUND, format_lines, write_numbers

values = st.lists(st.integers(-NUMBER_BOUND, NUMBER_BOUND), min_size=1, max_size=200)


@given(values)
def test_format_lines_writes_what_str_writes(numbers):
    expected = b"".join(str(v).encode() + b"\n" for v in numbers)
    assert format_lines(np.array(numbers, dtype=np.int64)) == expected


def _reference(lines, *, seed, blank_lines, bad_lines):
    """The file as the one-line-at-a-time writer made it (1 << 20 lines a block)."""
    rng = np.random.default_rng(seed)
    special = min(lines, blank_lines + bad_lines)
    where = sorted(int(i) for i in rng.choice(lines, size=special, replace=False))
    replace = {
        i: b"" if k < blank_lines else BAD_SAMPLES[k % len(BAD_SAMPLES)]
        for k, i in enumerate(where)
    }
    values = rng.integers(-NUMBER_BOUND, NUMBER_BOUND, size=lines, endpoint=True)
    out = [replace.get(i, str(v).encode()) for i, v in enumerate(values.tolist())]
    return b"\n".join(out) + b"\n"


def test_the_demo_file_is_the_same_bytes_as_before(tmp_path):
    path = tmp_path / "n.txt"
    size = write_numbers(path, 5000, seed=11, blank_lines=7, bad_lines=9)
    expected = _reference(5000, seed=11, blank_lines=7, bad_lines=9)
    assert path.read_bytes() == expected and size == len(expected)
    edge = tmp_path / "edge.txt"
    write_numbers(edge, 3, seed=1, blank_lines=2, bad_lines=1)
    assert edge.read_bytes() == _reference(3, seed=1, blank_lines=2, bad_lines=1)
