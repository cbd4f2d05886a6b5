"""The supervisor: named loops over pipes, deterministic tick budgets, restarts, hung loops,
ordered stops on SIGTERM/SIGINT, and no child or zombie left (checked in the process table)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolpipe.errors import PoolpipeError, Stopped
from poolpipe.supervise.loops import Loop, SupervisorSettings, loops_from_config, parse_loop
from poolpipe.supervise.report import FIELDS, check, ticks_tsv, write_ticks
from poolpipe.supervise.supervisor import supervise

from ..helpers import POOLPIPE, alive, children, in_thread, wait_until

DEMO = [
    Loop(name="render", interval_s=0.02, ticks=50),
    Loop(name="logic", interval_s=0.05, ticks=20),
    Loop(name="network", interval_s=0.1, ticks=10, fail_at_tick=4),
]


# --- deterministic runs, restarts -----------------------------------------------------------


def test_tick_budgets_make_the_results_the_same_every_run(no_leftovers: None) -> None:
    first = supervise(DEMO, SupervisorSettings(duration_s=60, restart=True))
    second = supervise(DEMO, SupervisorSettings(duration_s=60, restart=True))
    assert (
        ticks_tsv(first)
        == ticks_tsv(second)
        == (
            "process\tticks\trestarts\texit_code\tstatus\n"
            "render\t50\t0\t0\tfinished\n"
            "logic\t20\t0\t0\tfinished\n"
            "network\t10\t1\t0\tfinished\n"
        )
    )
    assert first.signal is None and first.failed == []
    check(first)


def test_a_dead_loop_is_reported_and_the_others_run_on(no_leftovers: None, caplog) -> None:
    caplog.set_level(logging.INFO, logger="poolpipe.supervise.supervisor")
    loops = [
        Loop(name="steady", interval_s=0.02, ticks=30),
        Loop(name="fragile", interval_s=0.02, ticks=30, fail_at_tick=3),
    ]
    report = supervise(loops, SupervisorSettings(duration_s=60, restart=False))
    rows = {row.process: row for row in report.rows}
    assert (rows["steady"].ticks, rows["steady"].status, rows["steady"].exit_code) == (
        30,
        "finished",
        0,
    )
    assert (rows["fragile"].ticks, rows["fragile"].status, rows["fragile"].exit_code) == (
        2,
        "died",
        1,
    )
    assert rows["fragile"].restarts == 0
    assert "process fragile (pid" in caplog.text and "died with exit code 1 after 2" in caplog.text
    with pytest.raises(PoolpipeError, match=r"^worker loop 'fragile' died \(exit code 1\)$"):
        check(report)


def test_restarts_stop_at_the_limit(no_leftovers: None, caplog) -> None:
    """SIGKILL the loop's process each time it comes back: two restarts, then it stays dead."""
    caplog.set_level(logging.INFO, logger="poolpipe.supervise.supervisor")
    killed: list[int] = []
    before = children()

    def killer() -> None:
        deadline = time.monotonic() + 30
        while len(killed) < 3 and time.monotonic() < deadline:
            for pid in children(zombies=False):
                if pid not in before | set(killed):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.02)

    thread = in_thread(killer)
    report = supervise(
        [Loop(name="victim", interval_s=0.02)],
        SupervisorSettings(duration_s=60, restart=True, max_restarts=2),
    )
    thread.join(timeout=30)
    (row,) = report.rows
    assert (row.restarts, row.status, row.exit_code) == (2, "died", -signal.SIGKILL)
    assert len(killed) == 3
    assert "restarting victim (2 of 2)" in caplog.text
    assert "victim is not restarted again: restart limit reached" in caplog.text


def test_a_loop_that_stops_sending_heartbeats_is_killed_and_restarted(no_leftovers: None) -> None:
    frozen: list[int] = []
    before = children()

    def freezer() -> None:
        assert wait_until(lambda: bool(children() - before))
        pid = min(children() - before)
        os.kill(pid, signal.SIGSTOP)
        frozen.append(pid)

    thread = in_thread(freezer)
    settings = SupervisorSettings(duration_s=60, restart=True, heartbeat_timeout_s=0.5)
    report = supervise([Loop(name="sleepy", interval_s=0.05, ticks=30)], settings)
    thread.join(timeout=30)
    (row,) = report.rows
    assert (row.ticks, row.restarts, row.status, row.exit_code) == (30, 1, "finished", 0)
    assert frozen and not alive(frozen[0])


def test_the_duration_ends_a_run_of_endless_loops(no_leftovers: None) -> None:
    report = supervise(
        [Loop(name="a", interval_s=0.01), Loop(name="b", interval_s=0.01)],
        SupervisorSettings(duration_s=0.5),
    )
    assert [(r.process, r.status, r.exit_code) for r in report.rows] == [
        ("a", "stopped", 0),
        ("b", "stopped", 0),
    ]
    assert all(r.ticks > 0 for r in report.rows)
    assert report.signal is None


def test_a_signal_stops_the_loops_in_order(no_leftovers: None, caplog) -> None:
    """SIGTERM to this process while the supervisor runs in it: every loop is told to stop,
    one after the other in the configured order, and joined."""
    caplog.set_level(logging.INFO, logger="poolpipe.supervise.supervisor")
    loops = [
        Loop(name="render", interval_s=0.01),
        Loop(name="logic", interval_s=0.01),
        Loop(name="network", interval_s=0.01),
    ]
    before = children()

    def stopper() -> None:
        assert wait_until(lambda: len(children() - before) == 3)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = in_thread(stopper)
    report = supervise(loops, SupervisorSettings(duration_s=60))
    thread.join(timeout=30)
    assert report.signal == signal.SIGTERM
    assert [(r.status, r.exit_code) for r in report.rows] == [("stopped", 0)] * 3
    stops = [line for line in caplog.messages if " stopped with " in line]
    assert [line.split()[0] for line in stops] == ["render", "logic", "network"]
    with pytest.raises(Stopped):
        check(report)


def test_bad_loops_are_one_sentence() -> None:
    with pytest.raises(PoolpipeError, match="name 'a' is used twice"):
        supervise(
            [Loop(name="a", interval_s=1), Loop(name="a", interval_s=1)],
            SupervisorSettings(duration_s=1),
        )
    with pytest.raises(
        PoolpipeError, match=r"^worker loop 'a': interval_s must be at least 0.001, not"
    ):
        supervise([Loop(name="a", interval_s=0)], SupervisorSettings(duration_s=1))
    with pytest.raises(PoolpipeError, match="at least one worker loop"):
        supervise([], SupervisorSettings(duration_s=1))


@pytest.mark.parametrize(
    ("spec", "loop"),
    [
        ("render", Loop(name="render", interval_s=1.0)),
        ("render:0.5", Loop(name="render", interval_s=0.5)),
        ("render:0.5:10", Loop(name="render", interval_s=0.5, ticks=10)),
        ("render::10:3", Loop(name="render", interval_s=1.0, ticks=10, fail_at_tick=3)),
    ],
)
def test_loops_from_the_command_line(spec: str, loop: Loop) -> None:
    assert parse_loop(spec) == loop


@pytest.mark.parametrize("spec", ["", ":1", "a:x", "a:1:2.5", "a:1:2:3:4"])
def test_bad_loop_specs_are_one_sentence(spec: str) -> None:
    with pytest.raises(PoolpipeError, match=r"is not NAME\[:INTERVAL_S"):
        parse_loop(spec)


def test_loops_from_the_config() -> None:
    items = [{"name": "a", "interval_s": 0.1, "ticks": 3}, {"name": "b", "interval_s": 1}]
    assert loops_from_config(items) == [
        Loop(name="a", interval_s=0.1, ticks=3),
        Loop(name="b", interval_s=1.0),
    ]


def test_ticks_tsv_is_written_atomically(tmp_path: Path) -> None:
    report = supervise(
        [Loop(name="a", interval_s=0.01, ticks=3)], SupervisorSettings(duration_s=60)
    )
    write_ticks(tmp_path / "out" / "ticks.tsv", report)
    lines = (tmp_path / "out" / "ticks.tsv").read_text().splitlines()
    assert lines == ["\t".join(FIELDS), "a\t3\t0\t0\tfinished"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["ticks.tsv"]


# --- the command, stopped from outside ------------------------------------------------------


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*POOLPIPE, "supervise", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def running() -> Iterator[tuple[subprocess.Popen[str], set[int]]]:
    """`poolpipe supervise` with the article's three loops, until a signal; and their pids."""
    proc = _start("--worker", "render:0.05", "--worker", "logic:0.05", "--worker", "network:0.05")
    loops: set[int] = set()
    try:
        assert wait_until(lambda: len(children(proc.pid)) == 3 or proc.poll() is not None)
        assert proc.poll() is None, proc.communicate(timeout=10)
        loops.update(children(proc.pid))
        yield proc, loops
    finally:
        for pid in [proc.pid, *loops]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)


@pytest.mark.parametrize(
    ("sig", "code", "group"),
    [
        (signal.SIGTERM, 143, False),
        (signal.SIGINT, 130, False),
        (signal.SIGINT, 130, True),  # Ctrl-C in a terminal reaches the whole process group
    ],
)
def test_a_signal_stops_every_child_within_seconds(
    running: tuple[subprocess.Popen[str], set[int]], sig: signal.Signals, code: int, group: bool
) -> None:
    proc, loops = running
    (os.killpg if group else os.kill)(proc.pid, sig)
    assert wait_until(lambda: not [pid for pid in loops if alive(pid)], timeout=5.0), [
        pid for pid in loops if alive(pid)
    ]
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == code, stderr
    assert stderr.splitlines() == [f"poolpipe: stopped by {sig.name}"]
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert rows[0] == list(FIELDS)
    assert [(r[0], r[2], r[3], r[4]) for r in rows[1:]] == [
        ("render", "0", "0", "stopped"),
        ("logic", "0", "0", "stopped"),
        ("network", "0", "0", "stopped"),
    ]
    assert all(int(r[1]) >= 0 for r in rows[1:])


def test_a_sigterm_to_the_group_ends_the_children_and_the_supervisor(
    running: tuple[subprocess.Popen[str], set[int]],
) -> None:
    """As a time limit or scancel sends it: the loops leave it to the supervisor, which stops
    them with the stop message, so each is `stopped`, not `died`."""
    proc, loops = running
    os.killpg(proc.pid, signal.SIGTERM)
    assert wait_until(lambda: not [pid for pid in loops if alive(pid)], timeout=5.0)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 143, stderr
    assert stderr.splitlines() == ["poolpipe: stopped by SIGTERM"]
    rows = [line.split("\t") for line in stdout.splitlines()[1:]]
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("render", "0", "stopped"),
        ("logic", "0", "stopped"),
        ("network", "0", "stopped"),
    ]


def test_the_children_die_with_a_sigkilled_supervisor(
    running: tuple[subprocess.Popen[str], set[int]],
) -> None:
    proc, loops = running
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert wait_until(lambda: not [pid for pid in loops if alive(pid)], timeout=5.0)


def test_a_second_signal_kills_a_loop_that_will_not_stop() -> None:
    """A frozen loop ignores its stop message; the stop would wait 60 s, a second SIGTERM
    cuts it short (the run is bounded by communicate's timeout, well under 60 s)."""
    proc = _start("--worker", "a:0.05", "--worker", "b:0.05", "--stop-timeout", "60")
    loops: set[int] = set()
    try:
        assert wait_until(lambda: len(children(proc.pid)) == 2 or proc.poll() is not None)
        loops.update(children(proc.pid))
        for pid in loops:
            os.kill(pid, signal.SIGSTOP)
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        for pid in [proc.pid, *loops]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.communicate(timeout=30)
    assert proc.returncode == 143, stderr
    statuses = [line.split("\t")[4] for line in stdout.splitlines()[1:]]
    assert statuses == ["killed", "killed"]
    assert not [pid for pid in loops if alive(pid)]


def test_the_command_runs_for_its_duration_and_writes_ticks(tmp_path: Path) -> None:
    out = tmp_path / "ticks.tsv"
    args = ["--worker", "x:0.01:5", "--worker", "y:0.01:3:2", "--restart", "--duration", "30"]
    run = subprocess.run(
        [*POOLPIPE, "supervise", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert out.read_text().splitlines()[1:] == ["x\t5\t0\t0\tfinished", "y\t3\t1\t0\tfinished"]
