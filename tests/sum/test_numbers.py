"""The sum stage: exact totals, every line accounted for, against a plain Python reference."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from poolpipe.core.chunks import Range, split_file
from poolpipe.errors import PoolpipeError
from poolpipe.sum import numbers
from poolpipe.sum.numbers import (
    EXAMPLE_CHARS,
    MAX_EXAMPLES,
    SumPart,
    decimal_to_int,
    merge_parts,
    parse_line,
    sum_file,
    sum_range,
    sum_ranges,
)
from tests.sum.conftest import drop_note

from ..helpers import with_line_ends


def reference(data: bytes, block_size: int | None = None) -> SumPart:
    """Plain Python: split on '\\n' (a UTF-8 byte-order mark first is not text), classify
    each line with the reference rule."""
    lines = re.findall(rb"[^\n]*\n|[^\n]+$", data.removeprefix(b"\xef\xbb\xbf"))
    total = numbers = blanks = bad = 0
    bad_lines: list[int] = []
    for i, line in enumerate(lines, start=1):
        if block_size is not None and len(line) > block_size:
            bad += 1
            bad_lines.append(i)
            continue
        try:
            value = parse_line(line.rstrip(b"\n"))
        except ValueError:
            bad += 1
            bad_lines.append(i)
            continue
        if value is None:
            blanks += 1
        else:
            total += value
            numbers += 1
    part = SumPart(
        total=total,
        numbers=numbers,
        blank_lines=blanks,
        bad_lines=bad,
        lines=len(lines),
        bytes=len(data),
    )
    return part, bad_lines[:MAX_EXAMPLES]


def _summary(part: SumPart) -> tuple:
    return (part.total, part.numbers, part.blank_lines, part.bad_lines, part.lines, part.bytes)


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_bytes(data)
    return path


def test_a_byte_order_mark_before_the_first_number_is_not_a_bad_line(tmp_path, scanner):
    path = _write(tmp_path, b"\xef\xbb\xbf5\n6\n")
    result = sum_file(str(path), processes=1)
    assert (result["total"], result["numbers"], result["bad_lines"]) == (11, 2, 0)
    assert (result["lines"], result["bytes"]) == (2, 7)


def test_each_test_runs_on_the_scanner_it_names(scanner):
    want = {"C": "poolpipe.sum._scan", "numpy": "poolpipe.sum.pyscan"}[scanner]
    assert numbers._scan.__name__ == want


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"0", 0),
        (b"-0", 0),
        (b"+7", 7),
        (b"007", 7),
        (b"  \t-42 \t", -42),
        (b"12\r", 12),
        (b"", None),
        (b" \t ", None),
        (b"\r", None),
        (b"123456789012345678901234567890", 123456789012345678901234567890),
        (b"-9223372036854775809", -9223372036854775809),
    ],
)
def test_good_and_blank_lines(line, value):
    assert parse_line(line) == value


@pytest.mark.parametrize(
    "line",
    [
        b"abc",
        b"1.5",
        b"1e3",
        b"0x10",
        b"1_000",
        b"- 5",
        b"+",
        b"-",
        b"--1",
        b"\xff",
        b"4\x002",
        b"1\r\r",
        b"\r1",
        b"\xd9\xa3",
        b"1 2",
        b"\x0b1",
        b"1\x0c",
    ],
)
def test_bad_lines(line):
    with pytest.raises(ValueError):
        parse_line(line)


@pytest.mark.parametrize(
    "line", [b"1.5", b"1_000", b"\xd9\xa3", b"\x0b1", b"4\x002", b"- 5", b"1\r\r", b"99999x"]
)
def test_the_fast_scanner_agrees_on_each_bad_line(tmp_path, line):
    path = _write(tmp_path, b"5\n" + line + b"\n6\n")
    part = sum_range(Range(str(path), 0, path.stat().st_size))
    assert (part.total, part.numbers, part.bad_lines, part.lines) == (11, 2, 1, 3)
    assert part.bad_examples[0].line == 2


def test_numbers_longer_than_pythons_digit_limit_are_exact():
    digits = "".join(str(i % 10) for i in range(1, 7001))
    value = 0
    for d in digits:
        value = value * 10 + int(d)
    assert decimal_to_int(b"-" + digits.encode()) == -value
    assert decimal_to_int(b"+" + digits.encode()) == value


def test_a_sum_past_int64_is_exact(tmp_path):
    values = [2**63 - 1] * 5 + [-(2**63)] * 2 + [10**30]
    path = _write(tmp_path, "".join(f"{v}\n" for v in values).encode())
    assert sum_file(str(path), 2)["total"] == sum(values)


def test_empty_file_sums_to_zero(tmp_path):
    result = sum_file(str(_write(tmp_path, b"")), 2)
    assert (result["total"], result["numbers"], result["lines"], result["bytes"]) == (0, 0, 0, 0)


def test_last_line_without_newline_and_crlf(tmp_path):
    result = sum_file(str(_write(tmp_path, b"1\r\n2\r\n\r\n 3")), 1)
    assert (result["total"], result["numbers"], result["blank_lines"]) == (6, 3, 1)


def test_bad_examples_have_line_numbers_and_text(tmp_path):
    lines = [b"1"] * 30
    lines[4] = b"five"
    lines[20] = b"\xff\xfe"
    lines[25] = b"x" * 200
    result = sum_file(str(_write(tmp_path, b"\n".join(lines) + b"\n")), 2)
    examples = result["bad_examples"]
    assert [e["line"] for e in examples] == [5, 21, 26]
    assert examples[0]["text"] == "five"
    assert examples[1]["text"] == "\\xff\\xfe"
    assert examples[2]["text"] == "x" * EXAMPLE_CHARS + "..."
    assert result["bad_lines"] == 3
    assert result["total"] == 27
    assert [e["reason"] for e in examples] == [
        "not an integer: it holds 'f'",
        "not UTF-8",
        "not an integer: it holds 'x'",
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("3\u00a0", "not an integer: it holds '\\xa0' (NO-BREAK SPACE)"),
        ("\u20073", "not an integer: it holds '\\u2007' (FIGURE SPACE)"),
        ("1.5", "not an integer: it holds '.'"),
        ("1 2", "not an integer"),
        ("--1", "not an integer"),
    ],
)
def test_a_bad_line_says_why_naming_a_character_no_one_sees(tmp_path, line, reason):
    result = sum_file(str(_write(tmp_path, f"1\n{line}\n".encode())), 1)
    assert list(result["bad_examples"]) == [{"line": 2, "text": line, "reason": reason}]


def test_a_line_over_the_block_says_so(tmp_path):
    data = b"1\n" + b"9" * 5000 + b"\n2\n"
    part = sum_range(split_file(str(_write(tmp_path, data)), 1)[0], block_size=4096)
    assert [(e.line, e.reason) for e in part.bad_examples] == [(2, "longer than 4,096 bytes")]
    assert part.total == 3


def test_only_the_first_examples_are_kept_but_all_are_counted(tmp_path):
    data = b"x\n" * (MAX_EXAMPLES + 7)
    result = sum_file(str(_write(tmp_path, data)), 3)
    assert result["bad_lines"] == MAX_EXAMPLES + 7
    assert [e["line"] for e in result["bad_examples"]] == list(range(1, MAX_EXAMPLES + 1))


def test_strict_names_file_and_absolute_line(tmp_path):
    lines = [b"1"] * 1000
    lines[876] = b"oops"
    path = _write(tmp_path, b"\n".join(lines) + b"\n")
    ranges = split_file(path, 4)
    with pytest.raises(PoolpipeError, match=r"numbers\.txt, line 877: 'oops' is not an integer"):
        sum_ranges(ranges, processes=2, strict=True)


def test_strict_mode_stops_through_the_pool(tmp_path, monkeypatch):
    monkeypatch.setattr(numbers, "MIN_PIECE", 0)  # pieces of any size: this small file pools
    lines = [b"1"] * 1000
    lines[876] = b"oops"
    path = _write(tmp_path, b"\n".join(lines) + b"\n")
    with pytest.raises(PoolpipeError, match=r"numbers\.txt, line 877: 'oops' is not an integer"):
        sum_ranges(split_file(path, 4), processes=2, strict=True)


def test_a_job_of_one_piece_starts_no_pool(tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started")

    monkeypatch.setattr("poolpipe.core.pool.pool_map", no_pool)
    path = _write(tmp_path, b"1\n2\n" * 1000)
    assert sum_file(str(path), 2)["total"] == 3000
    assert numbers.processes_for(4000, 2) == 1  # what the job's timing record says
    assert numbers.processes_for(4 << 20, 2) == 2 and numbers.processes_for(4 << 20, 1) == 1
    monkeypatch.setattr(numbers, "MIN_PIECE", 0)
    with pytest.raises(AssertionError, match="a pool was started"):
        sum_file(str(path), 2)
    assert numbers.processes_for(4000, 2) == 2


def test_a_pool_has_no_more_workers_than_pieces(tmp_path, monkeypatch):
    started = []

    def pool_map(fn, tasks, processes, **how):
        started.append(processes)
        return map(fn, tasks)

    monkeypatch.setattr("poolpipe.core.pool.pool_map", pool_map)
    path = _write(tmp_path, b"12345\n" * ((3 << 20) // 6))  # 3 MiB: three 1 MiB pieces
    assert sum_file(str(path), 64)["total"] == 12345 * ((3 << 20) // 6)
    assert started == [3]
    assert numbers.processes_for(path.stat().st_size, 64) == 3  # what the timing record says
    assert numbers.processes_for(path.stat().st_size, 2) == 2


@settings(max_examples=400)
@given(
    data=with_line_ends(
        st.lists(
            st.one_of(
                st.integers(-(10**40), 10**40).map(lambda v: str(v).encode()),
                st.integers(-(10**12), 10**12).map(lambda v: str(v).encode()),
                st.sampled_from(
                    [b"", b" ", b"\t", b"\r", b"x", b"1.5", b"\x00", b"\xff", b"+", b"-"]
                ),
                st.binary(max_size=6),
            ),
            max_size=60,
        )
    ),
    block=st.sampled_from([8, 16, 64, 1 << 20]),
)
@example(data=b"\xef\xbb\xbf\n", block=8)  # a byte-order mark first is not a bad line
@example(data=b"\xef\xbb\xbf", block=8)
def test_sum_range_matches_the_reference(tmp_path, data, block):
    path = _write(tmp_path, data)
    part = sum_range(Range(str(path), 0, len(data)), block_size=block)
    want, bad_lines = reference(data, block)
    assert _summary(part) == _summary(want)
    assert [e.line for e in part.bad_examples] == bad_lines


@settings(max_examples=30)  # each example starts up to 12 pools
@given(
    data=st.binary(max_size=3000)
    | st.lists(st.integers(-(10**25), 10**25)).map(
        lambda vs: "".join(f"{v}\n" for v in vs).encode()
    ),
    chunks=st.integers(1, 12),
    processes=st.integers(1, 3),
)
def test_chunked_pool_sum_equals_the_reference(tmp_path, monkeypatch, data, chunks, processes):
    monkeypatch.setattr(numbers, "MIN_PIECE", 0)  # pieces of any size: these small files pool
    path = _write(tmp_path, data)
    ranges = split_file(path, chunks)
    merged = merge_parts(sum_ranges([r], processes) for r in ranges)
    want, bad_lines = reference(data)
    assert _summary(merged) == _summary(want)
    assert [e.line for e in merged.bad_examples] == bad_lines


def test_part_json_round_trip(tmp_path):
    part = sum_file(str(_write(tmp_path, b"1\nx\n")), 1)
    one = SumPart.from_json({k: v for k, v in part.items() if k in SumPart.__dataclass_fields__})
    assert SumPart.from_json(json.loads(json.dumps(one.to_json()))) == one


def test_cli_prints_the_result_and_fails_in_one_sentence(tmp_path, poolpipe_cli, scanner):
    path = _write(tmp_path, b"1\n2\nbad\n")
    cli = [*poolpipe_cli, "sum"]
    ok = subprocess.run([*cli, str(path), "--processes", "2"], capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["total"] == 3
    assert drop_note(ok.stderr.decode(), scanner) == ""
    strict = subprocess.run([*cli, str(path), "--strict"], capture_output=True, timeout=60)
    assert strict.returncode == 1
    assert drop_note(strict.stderr.decode(), scanner).strip() == (
        f"poolpipe: error: {path}, line 3: 'bad' is not an integer: it holds 'b' (strict mode "
        "stops here)"
    )
    for bad_path, words in [(tmp_path / "nope.txt", "does not exist"), (tmp_path, "directory")]:
        run = subprocess.run([*cli, str(bad_path)], capture_output=True, timeout=60)
        assert run.returncode == 1
        err = run.stderr.decode()
        assert words in err and "Traceback" not in err and err.count("\n") == 1


def test_a_total_longer_than_pythons_digit_limit_is_printed_exactly(tmp_path, poolpipe_cli):
    digits = "9" * 5000
    path = _write(tmp_path, f"{digits}\n1\n".encode())
    run = subprocess.run(
        [*poolpipe_cli, "sum", str(path), "--processes", "1"],
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    printed = re.search(rb'"total": (\d+)', run.stdout).group(1)
    assert printed == b"1" + b"0" * 5000


def test_cli_timing_writes_a_record_of_the_run(tmp_path, poolpipe_cli):
    path = _write(tmp_path, b"1\n2\nx\n")
    timing = tmp_path / "t.json"
    run = subprocess.run(
        [
            *poolpipe_cli,
            "sum",
            str(path),
            "--processes",
            "2",
            "--timing",
            str(timing),
        ],
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    record = json.loads(timing.read_text())
    # a 6-byte file is summed in the command's own process: the record says 1, not --processes
    assert (record["stage"], record["rule"], record["processes"]) == ("sum", "poolpipe sum", 1)
    assert (record["items"], record["bytes"]) == (2, 6) and record["wall_s"] > 0


UNUSED_AT_START = (
    "logging",
    "multiprocessing",
    "concurrent.futures",
    "poolpipe.core.script",
    "poolpipe.core.timing",
    "hashlib",
    "socket",
    "decimal",
    "csv",
    "datetime",
    "random",
    "numpy",
    "jsonschema",
    "shutil",
    "typing",
    "math",
)
"""What `poolpipe sum` on a small file never calls: each would only add to its start-up."""


def test_the_sum_command_on_a_small_file_loads_nothing_it_does_not_use(tmp_path):
    path = _write(tmp_path, b"1\n-2\n 3 \n")
    probe = (
        "import json, sys\n"
        "from poolpipe.cli import main\n"
        f"code = main(['sum', {str(path)!r}, '--processes', '2'])\n"
        f"print(json.dumps([code, [m for m in {list(UNUSED_AT_START)!r} if m in sys.modules]]),"
        " file=sys.stderr)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["total"] == 2
    assert json.loads(run.stderr.splitlines()[-1]) == [0, []]


def test_the_sum_command_with_a_pool_loads_neither_typing_nor_the_timing_records(tmp_path):
    path = _write(tmp_path, b"12345\n" * 700_000)  # 4.2 MB: pieces for a pool of 2
    probe = (
        "import json, sys\n"
        "from poolpipe.cli import main\n"
        f"code = main(['sum', {str(path)!r}, '--processes', '2'])\n"
        "unused = ['typing', 'poolpipe.core.timing', 'numpy', 'decimal', 'hashlib']\n"
        "print(json.dumps([code, 'concurrent.futures.process' in sys.modules,"
        " [m for m in unused if m in sys.modules]]), file=sys.stderr)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["total"] == 12345 * 700_000
    assert json.loads(run.stderr.splitlines()[-1]) == [0, True, []]  # the pool ran, lean


def test_the_strict_sentence_escapes_a_bad_line_once_and_leaves_its_line_end_out(tmp_path):
    path = _write(tmp_path, b"1\r\nbad\x00\xff\r\n")
    with pytest.raises(PoolpipeError) as stopped:
        sum_file(str(path), 1, strict=True)
    assert ", line 2: 'bad\\x00\\xff' is not UTF-8 (strict" in str(stopped.value)
    assert sum_file(str(path), 1)["bad_examples"][0]["text"] == "bad\x00\\xff"


def test_the_strict_sentence_names_a_file_with_a_line_break_on_one_line(tmp_path):
    path = tmp_path / "a\nb.txt"
    path.write_bytes(b"1\nbad\n")
    with pytest.raises(PoolpipeError) as stopped:
        sum_file(str(path), 1, strict=True)
    assert str(stopped.value) == (
        f"{str(path)!r}, line 2: 'bad' is not an integer: it holds 'b' (strict mode stops here)"
    )
