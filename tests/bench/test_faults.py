"""The bench commands' fault catalogue: `double` values whose double is not an exact int64,
and the IPC bench over a file-size limit (`ulimit -f`): one sentence, not a traceback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from ..helpers import wait_until

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


LIMITED = """\
import resource, sys
from poolpipe.bench.ipc import measure
from poolpipe.errors import run_guarded

resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
sys.exit(run_guarded(lambda: measure(sys.argv[1], 100_000, 3) and 0))
"""


@pytest.mark.parametrize(
    ("method", "sentence"),
    [
        ("file_offset", r"the IPC bench's scratch file in '.*' cannot be written: "),
        ("shared_memory", "the IPC bench cannot make 100000 bytes of shared memory: "),
    ],
)
def test_a_file_size_limit_is_one_sentence(method, sentence):
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, method],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert "File too large" in lines[0]
    assert re.match(f"poolpipe: error: {sentence}", lines[0]), lines[0]


FOREVER = """\
import sys
from poolpipe.bench.ipc import measure
from poolpipe.errors import run_guarded

def forever():
    while True:
        measure("pipe", 1000, 10**9)  # one receiver, for as long as the test runs

sys.exit(run_guarded(forever))
"""


def _ignores(pid: int, signum: int) -> bool:
    """Whether process pid ignores signal signum (its SigIgn mask in /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(
        next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16
    )
    return bool(mask >> (signum - 1) & 1)


def test_ctrl_c_during_the_ipc_bench_leaves_one_sentence_and_no_child_traceback():
    """Ctrl-C reaches the whole process group: the receiver leaves it to its parent."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FOREVER],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        parent = psutil.Process(proc.pid)
        assert wait_until(lambda: proc.poll() is not None or parent.children(), 60)
        receivers = parent.children()
        assert len(receivers) == 1, "no receiver started"
        # the receiver ignores SIGINT (from its first lines on; until then it holds it back)
        assert wait_until(lambda: _ignores(receivers[0].pid, signal.SIGINT), 30), "not ignored"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGINT, err
    assert err == "poolpipe: stopped by SIGINT\n"


def test_a_value_in_other_digits_than_ascii_is_refused_as_a_number() -> None:
    done = subprocess.run(
        [POOLPIPE, "double", "--processes", "1", "\u0661", "\uff17"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.endswith("argument values: '\u0661' is not a whole number\n")
