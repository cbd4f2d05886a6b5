"""The `double` command's fault catalogue: values whose double is not an exact int64."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

POOLPIPE = str(Path(sys.executable).with_name("poolpipe"))
RANGE = "poolpipe: error: every value must lie strictly between -2**62 and 2**62\n"


@pytest.mark.parametrize(
    "values",
    [
        ["5", "-9223372036854775808"],  # int64's minimum: its abs overflows in numpy
        ["-4611686018427387904"],
        ["4611686018427387904"],
        ["9223372036854775808"],
        ["-" + "9" * 40],
    ],
)
def test_a_value_whose_double_overflows_is_one_sentence(values: list[str]) -> None:
    done = subprocess.run(
        [POOLPIPE, "double", "--processes", "1", "--", *values],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", RANGE)


def test_the_largest_values_allowed_double_exactly() -> None:
    edge = 2**62 - 1
    done = subprocess.run(
        [POOLPIPE, "double", "--processes", "2", "--", str(edge), str(-edge), "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [int(v) for v in done.stdout.replace("[", "").replace("]", "").split(",")] == [
        2 * edge,
        -2 * edge,
        0,
    ]
