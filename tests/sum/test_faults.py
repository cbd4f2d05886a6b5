"""The sum stage's fault catalogue, through the real `poolpipe sum` command: long digit runs are
summed exactly in subquadratic time (the timeout only catches a quadratic regression), an
over-long line is a counted bad line, and bad inputs and outputs are one sentence before any
work."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import subprocess

import pytest

from poolpipe.core.chunks import BLOCK_SIZE
from poolpipe.core.outputs import read_json
from poolpipe.sum.numbers import MIN_PIECE
from tests.sum.conftest import drop_note

LONG = 2 << 20
"""Digits in the long line: a quadratic conversion takes minutes, a subquadratic one seconds."""


@pytest.fixture
def run_sum(poolpipe_cli, scanner):
    """Run `poolpipe sum ARGS --processes 2` on the test's scanner; stderr without its note."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*poolpipe_cli, "sum", *args, "--processes", "2"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        done.stderr = drop_note(done.stderr, scanner if done.returncode == 0 else "C")
        return done

    return run


def _total_text(stdout: str) -> str:
    """The total's digits as printed (not converted: the test checks the text itself)."""
    match = re.search(r'^  "total": (-?[0-9]+),$', stdout, re.MULTILINE)
    assert match, stdout[:200]
    return match.group(1)


def _counts(stdout: str) -> dict[str, object]:
    return json.loads(re.sub(r'"total": -?[0-9]+,', '"total": null,', stdout, count=1))


def test_a_long_digit_line_plus_one_carries_through_every_digit(tmp_path, run_sum):
    path = tmp_path / "n.txt"
    path.write_text("9" * LONG + "\n1\n")
    done = run_sum(str(path))
    assert done.returncode == 0, done.stderr
    assert _total_text(done.stdout) == "1" + "0" * LONG
    assert _counts(done.stdout)["numbers"] == 2


def test_a_long_digit_line_and_its_negation_cancel(tmp_path, run_sum):
    digits = ("3141592653" * (LONG // 10 + 1))[:LONG]
    path = tmp_path / "n.txt"
    path.write_text(f"{digits}\n-{digits}\n+7\n")
    done = run_sum(str(path))
    assert done.returncode == 0, done.stderr
    assert _total_text(done.stdout) == "7"


def test_a_long_digit_total_is_printed_digit_for_digit(tmp_path, run_sum):
    digits = ("2718281828" * (LONG // 10 + 1))[:LONG]
    path = tmp_path / "n.txt"
    path.write_text(f"-{digits}\n")
    done = run_sum(str(path))
    assert done.returncode == 0, done.stderr
    assert _total_text(done.stdout) == "-" + digits


def test_a_long_total_goes_through_the_timing_record_and_json_reader(tmp_path, run_sum):
    digits = "5" * 100_000
    path = tmp_path / "n.txt"
    path.write_text(f"{digits}\n{digits}\n")
    timing = tmp_path / "timing.json"
    done = run_sum(str(path), "--timing", str(timing))
    assert done.returncode == 0, done.stderr
    (tmp_path / "total.json").write_text(done.stdout)
    assert read_json(tmp_path / "total.json")["total"] == 2 * (10**100_000 - 1) * 5 // 9
    assert read_json(timing)["items"] == 2


def test_a_line_longer_than_a_block_is_one_counted_bad_line(tmp_path, run_sum):
    path = tmp_path / "n.txt"
    path.write_text("1\n" + "8" * BLOCK_SIZE + "\n2\n")
    done = run_sum(str(path))
    assert done.returncode == 0, done.stderr
    assert _total_text(done.stdout) == "3"
    counts = _counts(done.stdout)
    assert (counts["numbers"], counts["bad_lines"], counts["lines"]) == (2, 1, 3)
    assert counts["bad_examples"][0]["line"] == 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.txt", "input file '{path}' does not exist"),
        (lambda d: d, "input '{path}' is a directory, not a file"),
    ],
    ids=["missing", "folder"],
)
def test_a_bad_input_is_one_sentence(tmp_path, make, message, run_sum):
    path = make(tmp_path)
    done = run_sum(str(path))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"poolpipe: error: {message.format(path=path)}\n"


def test_a_bad_timing_path_is_refused_before_the_sum(tmp_path, run_sum):
    path = tmp_path / "n.txt"
    path.write_text("1\n")
    done = run_sum(str(path), "--timing", str(tmp_path))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"poolpipe: error: --timing '{tmp_path}' is a folder, not a file\n"


@pytest.mark.parametrize(
    "alias", ["", "alias.json", "hard.json"], ids=["same", "symlink", "hardlink"]
)
def test_a_timing_path_that_is_the_input_is_refused_before_any_work(tmp_path, run_sum, alias):
    path = tmp_path / "n.txt"
    path.write_text("1\n2\n")
    timing = tmp_path / alias if alias else path
    if alias == "alias.json":
        timing.symlink_to(path)
    elif alias:
        os.link(path, timing)
    done = run_sum(str(path), "--timing", str(timing))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"poolpipe: error: --timing '{timing}' is the same file as input '{path}': "
        "choose another path\n"
    )
    assert path.read_text() == "1\n2\n"


def _poolpipe(
    cli: list[str], *args: str, limit: int | None = None, stdout=subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """Run `poolpipe ARGS`, its files no larger than limit bytes if given (RLIMIT_FSIZE)."""

    def file_size_limit() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [*cli, *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=file_size_limit,
    )


def test_a_full_standard_output_is_one_sentence(tmp_path, poolpipe_cli, scanner):
    path = tmp_path / "n.txt"
    path.write_text("1\n2\n")
    with open("/dev/full", "wb") as full:
        done = _poolpipe(poolpipe_cli, "sum", str(path), stdout=full)
    assert done.returncode == 1
    assert drop_note(done.stderr, scanner) == (
        "poolpipe: error: standard output cannot be written: No space left on device\n"
    )


def test_a_file_size_limit_on_standard_output_is_one_sentence(tmp_path, poolpipe_cli, scanner):
    path = tmp_path / "n.txt"
    path.write_text("1\n" * 300)
    out = tmp_path / "out.json"
    out.write_bytes(b"\n" * 8100)  # the pool's shared memory (a page) fits under the limit
    with out.open("ab") as fh:
        done = _poolpipe(poolpipe_cli, "sum", str(path), limit=8192, stdout=fh)
    assert done.returncode == 1
    assert drop_note(done.stderr, scanner) == (
        "poolpipe: error: standard output cannot be written: File too large\n"
    )


def test_a_file_size_limit_below_the_pools_shared_memory_is_one_sentence(
    tmp_path, poolpipe_cli, scanner
):
    path = tmp_path / "n.txt"
    path.write_text("1\n" * MIN_PIECE)  # two pieces: a job of one would run without a pool
    done = _poolpipe(poolpipe_cli, "sum", str(path), "--processes", "2", limit=512)
    assert done.returncode == 1
    assert drop_note(done.stderr, scanner) == (
        "poolpipe: error: the process pool cannot start: its shared memory cannot be made "
        "(File too large)\n"
    )


def test_a_file_size_limit_on_the_demo_numbers_leaves_no_partial_file(
    tmp_path, poolpipe_cli, scanner
):
    out = tmp_path / "numbers.txt"
    done = _poolpipe(poolpipe_cli, "demo-numbers", str(out), "--lines", "100000", limit=65536)
    assert done.returncode == 1
    assert done.stderr.endswith(f"poolpipe: error: '{out}' cannot be written: File too large\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs (root)")
def test_a_full_disk_under_the_timing_record_is_one_sentence(tmp_path, poolpipe_cli, scanner):
    path = tmp_path / "n.txt"
    path.write_text("1\n2\n")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        with (disk / "filler").open("wb", buffering=0) as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 4096)
        timing = disk / "timing.json"
        done = _poolpipe(poolpipe_cli, "sum", str(path), "--timing", str(timing))
        assert done.returncode == 1
        assert drop_note(done.stderr, scanner) == (
            f"poolpipe: error: '{timing}' cannot be written: No space left on device\n"
        )
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)
