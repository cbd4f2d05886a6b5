"""The IPC bench over a file-size limit (`ulimit -f`): one sentence, not a traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

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
        ("file_offset", r"the IPC bench's scratch file '.*poolpipe-ipc-.*' cannot be written: "),
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
