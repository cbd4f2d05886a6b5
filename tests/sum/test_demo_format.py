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


def test_more_special_lines_than_lines_is_one_sentence_not_fewer_lines(tmp_path):
    import pytest

    from poolpipe.crawl.demo import write_urls
    from poolpipe.errors import PoolpipeError
    from poolpipe.train.demo import write_train

    out = tmp_path / "n.txt"
    with pytest.raises(PoolpipeError, match=r"^2 blank and 2 bad lines do not fit in 3 lines$"):
        write_numbers(out, 3, seed=1, blank_lines=2, bad_lines=2)
    with pytest.raises(PoolpipeError, match=r"^5 bad rows do not fit in 3 rows$"):
        write_train(out, 3, seed=1, coef=[2.0], intercept=1.0, noise=0.1, bad_rows=5)
    assert not out.exists()
    write_numbers(out, 3, seed=1, blank_lines=1, bad_lines=2)
    assert sorted(out.read_bytes().split(b"\n")[:3]) == sorted([b"", *BAD_SAMPLES[1:3]])
    write_urls(out, pages=2, seed=1, duplicates=5)
    pages = [line for line in out.read_text().splitlines() if "/page/" in line]
    assert len(pages) == 2 + 5  # every repeat asked for, though there are only 2 pages
