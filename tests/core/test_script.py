"""A job script's log on a full disk: the job's sentence still reaches the console, and the
interpreter's exit does not fail on a last flush."""

from __future__ import annotations

import subprocess
import sys

JOB = """\
import logging
import sys
from types import SimpleNamespace

from poolpipe.core.script import run_script
from poolpipe.errors import PoolpipeError


def main(smk):
    logging.info("x" * 10000)
    if sys.argv[2] == "fail":
        raise PoolpipeError("'results/x.json' cannot be written: No space left on device")


smk = SimpleNamespace(log=[sys.argv[1]], rule="merge_x", wildcards={}, threads=1)
run_script(smk, main)
"""


def _job(log: str, outcome: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", JOB, log, outcome],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_job_whose_log_is_on_a_full_disk_still_says_its_sentence():
    done = _job("/dev/full", "fail")
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "rule merge_x: error: 'results/x.json' cannot be written: No space left on device"
    )
    assert "lost sys.stderr" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_job_whose_log_is_on_a_full_disk_succeeds_if_its_work_does():
    done = _job("/dev/full", "ok")
    assert done.returncode == 0, done.stderr
    assert "lost sys.stderr" not in done.stderr


def test_a_failed_job_with_a_log_copies_its_last_line_to_the_console(tmp_path):
    log = tmp_path / "job.log"
    done = _job(str(log), "fail")
    assert done.returncode == 1
    assert done.stderr == (
        "rule merge_x: error: 'results/x.json' cannot be written: No space left on device\n"
    )
    assert log.read_text().splitlines()[-1] == done.stderr.strip()
