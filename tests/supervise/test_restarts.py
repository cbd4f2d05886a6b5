"""Liveness is progress, restarts back off: a loop that stalls without dying is restarted,
restarts in a row wait exponentially longer (with jitter) up to a limit, a loop that then
runs well has its count reset, and a status file shows every loop while they run."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from poolpipe.core.timing import Backoff
from poolpipe.errors import PoolpipeError
from poolpipe.supervise.loops import Loop, SupervisorSettings, loops_from_config
from poolpipe.supervise.report import STATUS_FIELDS, check
from poolpipe.supervise.supervisor import supervise

from ..helpers import POOLPIPE, children, in_thread, wait_until

LOGGER = "poolpipe.supervise.supervisor"


def test_a_loop_that_stalls_without_dying_is_restarted(no_leftovers: None, caplog) -> None:
    """Its heartbeats keep coming (heartbeat timeout 60 s), but its ticks stop at 5."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    loops = [Loop(name="stuck", interval_s=0.02, ticks=40, stall_at_tick=5)]
    settings = SupervisorSettings(
        duration_s=120,
        restart=True,
        heartbeat_timeout_s=60,
        stall_timeout_s=1.5,
        restart_backoff_s=0.05,
    )
    report = supervise(loops, settings)
    (row,) = report.rows
    assert (row.ticks, row.restarts, row.status, row.exit_code) == (40, 1, "finished", 0)
    assert "stuck (pid" in caplog.text
    assert "sent heartbeats but no tick advanced, and was killed after 5 ticks" in caplog.text
    assert "sent no heartbeat" not in caplog.text
    check(report)


def test_a_stalled_loop_not_restarted_fails_the_run_as_stalled(no_leftovers: None) -> None:
    loops = [
        Loop(name="steady", interval_s=0.02, ticks=10),
        Loop(name="stuck", interval_s=0.02, ticks=40, stall_at_tick=3),
    ]
    settings = SupervisorSettings(duration_s=120, heartbeat_timeout_s=60, stall_timeout_s=1.5)
    report = supervise(loops, settings)
    rows = {r.process: (r.ticks, r.status, r.exit_code) for r in report.rows}
    assert rows == {"steady": (10, "finished", 0), "stuck": (3, "stalled", -signal.SIGKILL)}
    with pytest.raises(PoolpipeError, match=r"^worker loop 'stuck' stalled \(signal SIGKILL\)$"):
        check(report)


def _killer(caplog, kills: int, before: set[int], wait_for: str | None = None) -> list[int]:
    """SIGKILL each new loop process as it starts, `kills` times; before each kill after the
    first, wait for a log message if one is given."""
    killed: list[int] = []

    def run() -> None:
        deadline = time.monotonic() + 60
        while len(killed) < kills and time.monotonic() < deadline:
            fresh = children(zombies=False) - before - set(killed)
            ready = wait_for is None or not killed or wait_for in caplog.text
            if fresh and ready:
                pid = min(fresh)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.01)

    in_thread(run)
    return killed


def _restart_waits(caplog) -> list[float]:
    return [
        float(m) for m in re.findall(r"restarting victim \(\d+ of \d+\) in ([\d.]+) s", caplog.text)
    ]


def test_restarts_in_a_row_back_off_exponentially_up_to_the_limit(
    no_leftovers: None, caplog
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    killed = _killer(caplog, 4, children(zombies=False))
    settings = SupervisorSettings(
        duration_s=120,
        restart=True,
        max_restarts=3,
        restart_backoff_s=0.1,
        restart_jitter=0.5,
        restart_window_s=600,
    )
    report = supervise([Loop(name="victim", interval_s=0.02)], settings)
    assert wait_until(lambda: len(killed) == 4, timeout=60)
    (row,) = report.rows
    assert (row.restarts, row.status, row.exit_code) == (3, "died", -signal.SIGKILL)
    waits = _restart_waits(caplog)
    ceilings = [Backoff(base_s=0.1, max_s=30).ceiling(n) for n in (1, 2, 3)]
    assert len(waits) == 3
    assert all(c * 0.5 - 0.01 <= w <= c + 0.01 for w, c in zip(waits, ceilings, strict=True))
    restarted = [r for r in caplog.records if r.getMessage().startswith("restarting victim")]
    started = [r for r in caplog.records if r.getMessage().startswith("started victim")][1:]
    for plan, begun, wait in zip(restarted, started, waits, strict=True):
        assert begun.created - plan.created >= wait - 0.02  # it really waited
    assert "victim is not restarted again: restart limit reached" in caplog.text


def test_a_loop_that_ran_well_for_the_window_has_its_restarts_reset(
    no_leftovers: None, caplog
) -> None:
    """max_restarts 1: killed, restarted, runs well past the window, killed again: it comes
    back again, because the count of restarts in a row was reset."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    reset = "victim ran well for 0.3 s: its restart count is reset"
    killed = _killer(caplog, 2, children(zombies=False), wait_for=reset)
    settings = SupervisorSettings(
        duration_s=120,
        restart=True,
        max_restarts=1,
        restart_backoff_s=0.05,
        restart_window_s=0.3,
    )
    report = supervise([Loop(name="victim", interval_s=0.02, ticks=150)], settings)
    assert len(killed) == 2
    (row,) = report.rows
    assert (row.restarts, row.status, row.ticks) == (2, "finished", 150)
    assert reset in caplog.text
    assert "restart limit reached" not in caplog.text
    assert _restart_waits(caplog)[1] <= 0.05  # the backoff started over too


def test_the_status_file_shows_each_loop_while_it_runs(tmp_path: Path, no_leftovers: None) -> None:
    status = tmp_path / "status.tsv"
    seen: list[list[str]] = []

    def reader() -> None:
        def running() -> bool:
            if not status.exists():
                return False
            rows = [line.split("\t") for line in status.read_text().splitlines()]
            seen[:] = rows
            return any(r[1] == "running" and int(r[3]) > 0 for r in rows[1:])

        wait_until(running, timeout=60)

    thread = in_thread(reader)
    loops = [Loop(name="a", interval_s=0.02, ticks=20), Loop(name="b", interval_s=0.01, ticks=200)]
    report = supervise(loops, SupervisorSettings(duration_s=120), status=str(status))
    thread.join(timeout=60)
    assert seen[0] == list(STATUS_FIELDS)
    live = {r[0]: r for r in seen[1:]}
    assert set(live) == {"a", "b"}
    assert any(r[1] == "running" and r[2].isdigit() and float(r[5]) >= 0 for r in live.values())
    final = [line.split("\t") for line in status.read_text().splitlines()[1:]]
    assert [(r[0], r[1], r[2], r[3]) for r in final] == [
        (row.process, row.status, "", str(row.ticks)) for row in report.rows
    ]
    assert [r[1] for r in final] == ["finished", "finished"]


def test_the_command_takes_the_new_settings_and_refuses_bad_ones(tmp_path: Path) -> None:
    status, out = tmp_path / "s" / "status.tsv", tmp_path / "ticks.tsv"
    args = ["supervise", "--worker", "a:0.01:5", "--stall-timeout", "2", "--restart-jitter", "0"]
    run = subprocess.run(
        [*POOLPIPE, *args, "--status-file", str(status), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert status.read_text().splitlines() == ["\t".join(STATUS_FIELDS), "a\tfinished\t\t5\t0\t"]
    for option, value, error in [
        ("--stall-timeout", "0", "must be more than 0, not 0"),
        ("--stall-timeout", "nan", "not nan"),
        ("--restart-jitter", "1.5", "must be at most 1, not 1.5"),
        ("--restart-window", "inf", "must be at most 86400, not inf"),
    ]:
        bad = subprocess.run(
            [*POOLPIPE, "supervise", option, value, "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert bad.returncode == 2
        assert bad.stderr.splitlines()[-1].endswith(error), bad.stderr
    folder = tmp_path / "dir"
    folder.mkdir()
    taken = subprocess.run(
        [*POOLPIPE, "supervise", "--worker", "a:0.01:2", "--status-file", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (taken.returncode, taken.stdout) == (1, "")
    assert (
        taken.stderr == f"poolpipe: error: --status-file {str(folder)!r} is a folder, not a file\n"
    )


def test_stall_at_tick_comes_from_the_config() -> None:
    items = [{"name": "a", "interval_s": 0.1, "stall_at_tick": 3}]
    assert loops_from_config(items) == [Loop(name="a", interval_s=0.1, stall_at_tick=3)]
    with pytest.raises(PoolpipeError, match="stall_at_tick must be at least 1, not 0"):
        Loop(name="a", interval_s=0.1, stall_at_tick=0)
    with pytest.raises(PoolpipeError, match="restart_jitter must be at most 1, not 2"):
        SupervisorSettings(restart_jitter=2)
