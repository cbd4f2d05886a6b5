"""The one chunking function: ranges cover a file exactly once, cut at line starts."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolpipe.core.chunks import (
    UTF8_BOM,
    Range,
    header_end,
    iter_blocks,
    lines_before,
    pieces_for,
    read_manifest,
    split_file,
    split_range,
    write_manifest,
)
from poolpipe.errors import PoolpipeError

TEXT = st.binary(max_size=400) | st.lists(
    st.sampled_from([b"1", b"22", b"\n", b"\r\n", b"abc", b" "]), max_size=80
).map(b"".join)


def _lines(data: bytes) -> list[bytes]:
    return re.findall(rb"[^\n]*\n|[^\n]+$", data)


def _write(tmp_path: Path, data: bytes, name: str = "f.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@settings(max_examples=300)
@given(data=TEXT, n=st.integers(1, 40), header=st.booleans())
def test_ranges_cover_the_file_exactly_once_at_line_starts(tmp_path, data, n, header):
    path = _write(tmp_path, data)
    ranges = split_file(path, n, skip_header=header)
    assert len(ranges) == n
    start = header_end(path) if header else 0
    assert ranges[0].start == start
    assert ranges[-1].end == len(data)
    for a, b in itertools.pairwise(ranges):
        assert a.end == b.start
    for r in ranges:
        assert r.start <= r.end
        assert r.start == start or data[r.start - 1 : r.start] == b"\n" or r.start == len(data)
    assert b"".join(data[r.start : r.end] for r in ranges) == data[start:]


@settings(max_examples=200)
@given(data=TEXT, n=st.integers(1, 8), m=st.integers(1, 8))
def test_a_range_splits_again_the_same_way(tmp_path, data, n, m):
    path = _write(tmp_path, data)
    pieces = [p for r in split_file(path, n) for p in split_range(r, m)]
    assert b"".join(data[p.start : p.end] for p in pieces) == data
    assert all(
        p.start == 0 or data[p.start - 1 : p.start] == b"\n" or p.start == len(data) for p in pieces
    )


@settings(max_examples=300)
@given(data=TEXT, block=st.integers(1, 32))
def test_blocks_hold_whole_lines_and_cut_only_overlong_ones(tmp_path, data, block):
    path = _write(tmp_path, data)
    got: list[tuple[bytes, bool]] = [
        (bytes(b.data), b.overlong) for b in iter_blocks(Range(str(path), 0, len(data)), block)
    ]
    lines = _lines(data.removeprefix(UTF8_BOM))  # a leading byte-order mark is not text
    expected_lines = []
    for line in lines:
        overlong = len(line) > block
        expected_lines.append((line[:block] if overlong else line, overlong))
    seen = []
    for chunk, overlong in got:
        assert len(chunk) <= block
        if overlong:
            seen.append((chunk, True))
        else:
            seen.extend((line, False) for line in _lines(chunk))
    assert seen == expected_lines


def test_a_byte_order_mark_is_left_out_only_where_it_starts_the_file(tmp_path):
    data = UTF8_BOM + b"1\n" + UTF8_BOM + b"2\n"
    path = _write(tmp_path, data)
    whole = b"".join(bytes(b.data) for b in iter_blocks(Range(str(path), 0, len(data))))
    assert whole == b"1\n" + UTF8_BOM + b"2\n"
    later = b"".join(bytes(b.data) for b in iter_blocks(Range(str(path), 5, len(data))))
    assert later == UTF8_BOM + b"2\n"
    assert list(iter_blocks(Range(str(_write(tmp_path, UTF8_BOM)), 0, 3))) == []
    assert [
        bytes(b.data) for b in iter_blocks(Range(str(_write(tmp_path, b"\xef\xbb")), 0, 2))
    ] == [b"\xef\xbb"]


def test_more_chunks_than_lines_gives_empty_ranges(tmp_path):
    path = _write(tmp_path, b"1\n2\n")
    ranges = split_file(path, 10)
    assert [r.size for r in ranges if r.size] in ([2, 2], [4])
    assert sum(r.size for r in ranges) == 4


@pytest.mark.parametrize(
    ("lines", "processes", "min_size", "pieces"),
    [(100, 2, 0, 8), (100, 2, 60, 3), (100, 2, 100, 2), (100, 2, 101, 1), (100, 1, 0, 1)],
)
def test_pieces_for_a_pool_are_at_least_min_size(tmp_path, lines, processes, min_size, pieces):
    path = _write(tmp_path, b"1\n" * lines)
    got = pieces_for(Range(str(path), 0, 2 * lines), processes, min_size)
    assert len(got) == pieces
    assert [(a.end, b.start) for a, b in itertools.pairwise(got)] == [
        (b.start, b.start) for b in got[1:]
    ]
    assert (got[0].start, got[-1].end) == (0, 2 * lines)
    if min_size:
        assert all(r.size >= min_size for r in got[:-1]) or len(got) == 1


def test_empty_file_splits_into_empty_ranges(tmp_path):
    assert [r.size for r in split_file(_write(tmp_path, b""), 3)] == [0, 0, 0]


def test_manifest_round_trip(tmp_path):
    ranges = split_file(_write(tmp_path, b"1\n2\n3\n4\n"), 3)
    write_manifest(tmp_path / "m.tsv", ranges)
    assert read_manifest(tmp_path / "m.tsv") == ranges


def test_a_file_that_is_not_a_manifest_is_one_sentence(tmp_path):
    path = _write(tmp_path, b"a\tb\n")
    with pytest.raises(PoolpipeError, match="not a chunk manifest"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda text: text.replace("\t0\t", "\t-1\t", 1), "a number that is not one"),
        (lambda text: text.replace("\t0\t", "\t" + "9" * 5000 + "\t", 1), "not one"),
        (lambda text: text + "3\tx\n", "a row of another width"),
        (lambda text: text.encode() + b"\xff", "not a chunk manifest"),
    ],
)
def test_a_damaged_manifest_is_one_sentence(tmp_path, change, why):
    write_manifest(tmp_path / "m.tsv", split_file(_write(tmp_path, b"1\n2\n3\n4\n"), 3))
    damaged = change((tmp_path / "m.tsv").read_text())
    (tmp_path / "m.tsv").write_bytes(damaged if isinstance(damaged, bytes) else damaged.encode())
    with pytest.raises(PoolpipeError, match=why):
        read_manifest(tmp_path / "m.tsv")


def test_a_manifest_that_is_a_fifo_is_refused_unread(tmp_path):
    os.mkfifo(tmp_path / "m.tsv")
    with pytest.raises(PoolpipeError, match=r"chunk manifest .* is not a regular file"):
        read_manifest(tmp_path / "m.tsv")


def test_lines_before_counts_newlines(tmp_path):
    path = _write(tmp_path, b"a\nb\n\nc")
    assert [lines_before(path, k) for k in (0, 2, 4, 5, 6)] == [0, 1, 2, 3, 3]
    data = path.read_bytes()
    spans = [(0, 6), (1, 5), (2, 4), (3, 3), (4, 6)]
    expected = [data[a:b].count(b"\n") for a, b in spans]
    assert [lines_before(path, b, a) for a, b in spans] == expected


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.txt", "does not exist"),
        (lambda p: p, "is a directory"),
    ],
)
def test_bad_inputs_are_one_sentence(tmp_path, make, message):
    with pytest.raises(PoolpipeError, match=message):
        split_file(make(tmp_path), 2)
