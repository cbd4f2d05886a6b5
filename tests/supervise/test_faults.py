"""The supervise stage's fault catalogue: worker loops and settings the schema does not allow,
each run through the real `poolpipe supervise` command, each refused before any loop starts
with one sentence, and no ticks.tsv written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from poolpipe.errors import PoolpipeError
from poolpipe.supervise import SupervisorSettings

POOLPIPE = str(Path(sys.executable).with_name("poolpipe"))
NAME_RULE = "name must match ^(?!\\.+$)[A-Za-z0-9_.-]+$"
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
    (["--worker", "..:0.1:3"], f"worker loop '..': {NAME_RULE}"),  # its log: ...log
    (["--worker", "é"], f"worker loop 'é': {NAME_RULE}"),
    (["--worker", "a:nan"], "worker loop 'a': interval_s must be a finite number, not nan"),
    (["--worker", "a:inf"], "worker loop 'a': interval_s must be a finite number, not inf"),
    (["--worker", "a:1e999"], "worker loop 'a': interval_s must be a finite number, not inf"),
    (["--worker", "a:-1"], "worker loop 'a': interval_s must be at least 0.001, not -1.0"),
    (["--worker", "a:0"], "worker loop 'a': interval_s must be at least 0.001, not 0.0"),
    (["--worker", "a:1e-9"], "worker loop 'a': interval_s must be at least 0.001, not 1e-09"),
    (["--worker", "a:0.1:0"], "worker loop 'a': ticks must be at least 1, not 0"),
    (["--worker", "a:0.1:3:0"], "worker loop 'a': fail_at_tick must be at least 1, not 0"),
    (["--worker", "a:0.1:5:9"], "worker loop 'a': fail_at_tick 9 is past its last tick, 5"),
    (["--worker", "a:0.1:" + "9" * 5000], f"'a:0.1:{'9' * 5000}' {SPEC}"),
    (["--worker", "a:0.1:2.5"], f"'a:0.1:2.5' {SPEC}"),
]


@pytest.mark.parametrize(("args", "sentence"), REFUSED, ids=range(len(REFUSED)))
def test_a_loop_or_setting_the_schema_refuses_is_one_sentence(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    rc, stderr, rows = _supervise(tmp_path, *args)
    assert (rc, stderr, rows) == (1, f"poolpipe: error: {sentence}\n", None)


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--duration", "inf", "must be at most 86400, not inf"),
        ("--heartbeat-timeout", "inf", "must be at most 3600, not inf"),
        ("--stop-timeout", "1e999", "must be at most 600, not inf"),
        ("--stop-timeout", "nan", "must be a number more than 0 and at most 600, not nan"),
        ("--max-restarts", "-1", "must be at least 0, not -1"),
        ("--max-restarts", "1001", "must be at most 1000, not 1001"),
    ],
)
def test_a_setting_outside_its_schema_range_is_refused_by_the_command_line(
    tmp_path: Path, option: str, value: str, problem: str
) -> None:
    rc, stderr, rows = _supervise(tmp_path, "--worker", "a:0.1:3", option, value)
    assert (rc, rows) == (2, None)
    assert stderr.splitlines()[-1] == f"poolpipe supervise: error: argument {option}: {problem}"


@pytest.mark.parametrize("name", ["duration_s", "heartbeat_timeout_s", "stop_timeout_s"])
def test_the_library_refuses_an_endless_setting_in_one_sentence(name: str) -> None:
    with pytest.raises(PoolpipeError) as caught:
        SupervisorSettings(**{name: float("inf")})
    assert str(caught.value) == f"supervise setting {name} must be a finite number, not inf"


def test_a_name_the_schema_allows_runs_and_is_its_row(tmp_path: Path) -> None:
    rc, stderr, rows = _supervise(tmp_path, "--worker", "Render_1.a-b:0.01:3")
    assert (rc, stderr) == (0, "")
    assert rows == [
        "process\tticks\trestarts\texit_code\tstatus",
        "Render_1.a-b\t3\t0\t0\tfinished",
    ]


# --- second review: limits, overlapping outputs, a status file that fails --------------------


def test_family_10_at_most_64_loops_and_programs(tmp_path: Path) -> None:
    loops = [arg for i in range(65) for arg in ("--worker", f"w{i}:0.01:1")]
    rc, stderr, rows = _supervise(tmp_path, *loops)
    assert (rc, stderr, rows) == (
        1,
        "poolpipe: error: the supervisor runs at most 64 loops and programs, not 65\n",
        None,
    )
    mixed = loops[: 2 * 33] + [a for i in range(32) for a in ("--program", f"p{i}=true")]
    rc, stderr, rows = _supervise(tmp_path, *mixed, "--log-dir", str(tmp_path / "logs"))
    assert (rc, rows) == (1, None)
    assert stderr == "poolpipe: error: the supervisor runs at most 64 loops and programs, not 65\n"
    assert not (tmp_path / "logs").exists() or list((tmp_path / "logs").iterdir()) == []
    rc, stderr, rows = _supervise(tmp_path, *loops[: 2 * 64])
    assert (rc, stderr, len(rows or [])) == (0, "", 65)


def test_family_10_a_status_file_that_cannot_be_written_is_said_once_and_loops_run_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from poolpipe.supervise import SupervisorSettings, supervise
    from poolpipe.supervise.loops import Loop

    (tmp_path / "file").write_text("a file, not a folder\n")
    loops = [Loop(name="a", interval_s=0.01, ticks=150), Loop(name="b", interval_s=0.02, ticks=60)]
    with caplog.at_level("WARNING", logger="poolpipe.supervise.supervisor"):
        run = supervise(loops, SupervisorSettings(), status=str(tmp_path / "file" / "status.tsv"))
    assert [(r.process, r.ticks, r.status) for r in run.rows] == [
        ("a", 150, "finished"),
        ("b", 60, "finished"),
    ]
    said = [r.getMessage() for r in caplog.records if "status file" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("the status file is not kept up to date: ")


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["--status-file", "{out}"],
            "--status-file '{out}' is the same file as --out '{out}': choose another path",
        ),
        (
            ["--program", "ticks=true", "--log-dir", "{dir}"],
            "log of 'ticks' '{dir}/ticks.log' is the same file as --out '{out}': "
            "choose another path",
        ),
        (
            ["--program", "a=true", "--heartbeat", "a={out}"],
            "--out '{out}' is the same file as heartbeat of 'a' '{out}': choose another path",
        ),
    ],
)
def test_family_1_an_output_over_another_output_or_an_input_is_refused(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    out = tmp_path / "ticks.log"
    names = {"out": str(out), "dir": str(tmp_path)}
    done = subprocess.run(
        [POOLPIPE, "supervise", *[a.format(**names) for a in args], "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (1, f"poolpipe: error: {sentence.format(**names)}\n")
    assert not out.exists()


@pytest.mark.parametrize(
    ("item", "sentence"),
    [
        ({"name": "a b", "command": "true"}, f"program 'a b': {NAME_RULE}"),
        ({"name": "a", "command": ""}, "program 'a': command must not be empty, not ''"),
        (
            {"name": "a", "command": "x" * 4097},
            "program 'a': command must have at most 4096 characters, not '" + "x" * 4097 + "'",
        ),
        (
            {"name": "n" * 65, "command": "true"},
            f"program '{'n' * 65}': name must have at most 64 characters",
        ),
    ],
)
def test_a_program_in_the_config_the_schema_refuses_is_one_sentence(
    item: dict, sentence: str
) -> None:
    from poolpipe.errors import PoolpipeError
    from poolpipe.supervise import programs_from_config

    with pytest.raises(PoolpipeError) as refused:
        programs_from_config([item])
    assert str(refused.value) == sentence
