"""The supervise stage's fault catalogue: worker loops and settings the schema does not allow,
each run through the real `poolpipe supervise` command, each refused before any loop starts
with one sentence, and no ticks.tsv written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

POOLPIPE = str(Path(sys.executable).with_name("poolpipe"))
NAME_RULE = "name must match ^[A-Za-z0-9_.-]+$"
SPEC = "is not NAME[:INTERVAL_S[:TICKS[:FAIL_AT_TICK]]]"


def _supervise(tmp_path: Path, *args: str) -> tuple[int, str, list[str] | None]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    done = subprocess.run(
        [POOLPIPE, "supervise", *args, "--out", str(out / "ticks.tsv")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    left = sorted(p.name for p in out.iterdir())
    assert left in ([], ["ticks.tsv"]), left
    rows = (out / "ticks.tsv").read_text().splitlines() if left else None
    return done.returncode, done.stderr, rows


REFUSED = [
    (["--worker", "a\tb"], f"worker loop 'a\\tb': {NAME_RULE}"),
    (["--worker", "a\nb"], f"worker loop 'a\\nb': {NAME_RULE}"),
    (["--worker", "a\n:0.1:3"], f"worker loop 'a\\n': {NAME_RULE}"),
    (["--worker", "a b"], f"worker loop 'a b': {NAME_RULE}"),
    (["--worker", "é"], f"worker loop 'é': {NAME_RULE}"),
    (["--worker", "a:nan"], "worker loop 'a': interval_s must be a finite number, not nan"),
    (["--worker", "a:inf"], "worker loop 'a': interval_s must be a finite number, not inf"),
    (["--worker", "a:1e999"], "worker loop 'a': interval_s must be a finite number, not inf"),
    (["--worker", "a:-1"], "worker loop 'a': interval_s must be above 0, not -1.0"),
    (["--worker", "a:0"], "worker loop 'a': interval_s must be above 0, not 0.0"),
    (["--worker", "a:0.1:0"], "worker loop 'a': ticks must be at least 1, not 0"),
    (["--worker", "a:0.1:3:0"], "worker loop 'a': fail_at_tick must be at least 1, not 0"),
    (["--worker", "a:0.1:" + "9" * 5000], f"'a:0.1:{'9' * 5000}' {SPEC}"),
    (["--worker", "a:0.1:2.5"], f"'a:0.1:2.5' {SPEC}"),
    (
        ["--worker", "a:0.1:3", "--duration", "inf"],
        "supervise setting duration_s must be a finite number, not inf",
    ),
    (
        ["--worker", "a:0.1:3", "--heartbeat-timeout", "inf"],
        "supervise setting heartbeat_timeout_s must be a finite number, not inf",
    ),
    (
        ["--worker", "a:0.1:3", "--stop-timeout", "1e999"],
        "supervise setting stop_timeout_s must be a finite number, not inf",
    ),
]


@pytest.mark.parametrize(("args", "sentence"), REFUSED, ids=range(len(REFUSED)))
def test_a_loop_or_setting_the_schema_refuses_is_one_sentence(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    rc, stderr, rows = _supervise(tmp_path, *args)
    assert (rc, stderr, rows) == (1, f"poolpipe: error: {sentence}\n", None)


def test_a_nan_timeout_is_refused_by_the_command_line(tmp_path: Path) -> None:
    rc, stderr, rows = _supervise(tmp_path, "--worker", "a:0.1:3", "--stop-timeout", "nan")
    assert (rc, rows) == (2, None)
    assert stderr.splitlines()[-1] == (
        "poolpipe supervise: error: argument --stop-timeout: 'nan' must be above 0"
    )


@pytest.mark.parametrize(
    ("value", "problem"), [("-1", "at least 0, not -1"), ("1001", "at most 1000, not 1001")]
)
def test_max_restarts_outside_its_range_is_refused_by_the_command_line(
    tmp_path: Path, value: str, problem: str
) -> None:
    rc, stderr, rows = _supervise(tmp_path, "--worker", "a:0.1:3", "--max-restarts", value)
    assert (rc, rows) == (2, None)
    assert stderr.splitlines()[-1] == (
        f"poolpipe supervise: error: argument --max-restarts: must be {problem}"
    )


def test_a_name_the_schema_allows_runs_and_is_its_row(tmp_path: Path) -> None:
    rc, stderr, rows = _supervise(tmp_path, "--worker", "Render_1.a-b:0.01:3")
    assert (rc, stderr) == (0, "")
    assert rows == [
        "process\tticks\trestarts\texit_code\tstatus",
        "Render_1.a-b\t3\t0\t0\tfinished",
    ]
