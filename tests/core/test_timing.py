"""Timing records carry a trace (when, where, which attempt) and the load they ran under."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from poolpipe.core import Stopwatch, read_record, timed_with_serial, write_job_timing
from poolpipe.core.cpu import machine_busy_s, others_load
from poolpipe.core.timing import parse_utc, utc_iso

from ..helpers import run_poolpipe


def _smk(tmp_path, **extra):
    return SimpleNamespace(
        output=SimpleNamespace(timing=str(tmp_path / "t.json")),
        wildcards={"chunk": "3"},
        rule="sum_chunk",
        **extra,
    )


def test_a_job_record_carries_its_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    with Stopwatch() as watch:
        sum(range(10_000))
    write_job_timing(_smk(tmp_path, attempt=2), "sum", watch, items=5, size=50, processes=2)
    record = read_record(tmp_path / "t.json")
    assert (record.chunk, record.attempt, record.slurm_job_id) == (3, 2, "4242")
    assert record.exit_status == 0 and record.pid > 0 and record.host
    start, end = parse_utc(record.started_at), parse_utc(record.ended_at)
    assert record.started_at.endswith("Z") and 0 <= end - start < 60
    assert record.wall_s == pytest.approx(end - start, abs=0.05)


def test_the_attempt_is_read_from_a_resource_and_slurm_is_empty_outside_slurm(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    smk = _smk(tmp_path, resources=SimpleNamespace(attempt=3))
    write_job_timing(smk, "sum", Stopwatch(), items=0, size=0)
    record = read_record(tmp_path / "t.json")
    assert record.attempt == 3 and record.slurm_job_id is None
    assert record.started_at is None and record.load is None


def test_an_old_record_without_a_trace_still_reads(tmp_path):
    old = {"stage": "sum", "rule": "merge_sum", "chunk": None, "processes": 1, "wall_s": 1.0}
    old |= {"cpu_s": 1.0, "items": 1, "bytes": 1, "serial_wall_s": None, "host_cpus": 2}
    (tmp_path / "old.json").write_text(json.dumps(old | {"schema": 1}))
    record = read_record(tmp_path / "old.json")
    assert record.started_at is None and record.exit_status == 0


def test_the_serial_rerun_has_its_own_clock_times():
    result, watch, serial_s = timed_with_serial(lambda one, _: one, compare_serial=True)
    assert result is False and serial_s == watch.serial.wall_s
    assert watch.ended <= watch.serial.started <= watch.serial.ended


def test_utc_times_round_trip():
    assert utc_iso(0.5) == "1970-01-01T00:00:00.500000Z"
    assert parse_utc(utc_iso(1_700_000_000.25)) == pytest.approx(1_700_000_000.25)


def test_machine_busy_time_leaves_out_idle_iowait_and_guest(tmp_path):
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice, in clock ticks
    stat.write_text("cpu  100 20 30 5000 70 1 2 3 40 0\ncpu0 1 2 3 4 5 6 7 8 9 0\n")
    assert machine_busy_s(stat) == pytest.approx(156 / os.sysconf("SC_CLK_TCK"))
    assert machine_busy_s(tmp_path / "absent") is None
    (tmp_path / "odd").write_text("intr 1 2 3\n")
    assert machine_busy_s(tmp_path / "odd") is None


def test_load_is_other_processes_cpu_per_second():
    assert others_load(3.0, 1.0, 2.0) == 1.0
    assert others_load(0.5, 1.0, 2.0) == 0.0
    assert others_load(None, 1.0, 2.0) is None and others_load(1.0, 1.0, 0.0) is None
    tick = 1 / os.sysconf("SC_CLK_TCK")  # one tick more than a 3-tick job's 0: a third of a core
    assert others_load(tick, 0.0, 3 * tick) is None
    assert others_load(tick, 0.0, 4 * tick) == 0.25


@pytest.mark.skipif(machine_busy_s() is None, reason="needs /proc/stat")
def test_a_busy_process_beside_the_section_shows_as_load():
    burner = subprocess.Popen(
        [sys.executable, "-c", "import time\nt = time.time() + 1.5\nwhile time.time() < t: pass"]
    )
    try:
        time.sleep(0.2)
        with Stopwatch() as watch:
            time.sleep(0.8)
    finally:
        burner.wait()
    assert watch.load is not None and watch.load > 0.1
    assert watch.cpu_s < 0.1


def test_every_record_of_a_run_carries_the_runs_id_from_the_environment(tmp_path, monkeypatch):
    from poolpipe.core.timing import RUN_ID, RUN_ID_ENV, run_started, start_run

    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    first = start_run()
    assert RUN_ID.fullmatch(first) and os.environ[RUN_ID_ENV] == first
    assert start_run() == first, "one id for the whole run"
    assert run_started("20261206T083833Z-3fa2c1") == "2026-12-06 08:38 UTC"
    with Stopwatch() as watch:
        pass
    write_job_timing(_smk(tmp_path), "sum", watch, items=1, size=1)
    assert read_record(tmp_path / "t.json").run_id == first
    # a job started by the run (a script, a SLURM job) inherits the id through the environment
    code = "from poolpipe.core.timing import current_run_id; print(current_run_id())"
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert child.stdout.strip() == first
    # a new invocation without it (or with a value that is not a run id) makes a new one
    monkeypatch.setenv(RUN_ID_ENV, "not an id")
    assert start_run() not in (first, "not an id")


@pytest.mark.parametrize("given", ["baseline1", "20261206T083833Z-3FA2C1", " "])
def test_a_run_id_in_the_environment_that_is_no_run_id_is_refused_before_the_work(tmp_path, given):
    (tmp_path / "n.txt").write_text("1\n2\n")
    record = tmp_path / "t.json"
    done = run_poolpipe(
        "sum",
        str(tmp_path / "n.txt"),
        "--timing",
        str(record),
        env={**os.environ, "POOLPIPE_RUN_ID": given},
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"poolpipe: error: POOLPIPE_RUN_ID {given!r} is not a run id, a UTC time and six hex "
        "digits such as 20261206T083833Z-3fa2c1: set it to one, or unset it\n"
    )
    assert not record.exists()


def test_commands_sharing_a_run_id_in_the_environment_are_one_run(tmp_path):
    (tmp_path / "n.txt").write_text("1\n2\n")
    env = {**os.environ, "POOLPIPE_RUN_ID": "20261206T083833Z-3fa2c1"}
    for name in ("a", "b"):
        done = run_poolpipe(
            "sum", str(tmp_path / "n.txt"), "--timing", str(tmp_path / f"{name}.json"), env=env
        )
        assert done.returncode == 0, done.stderr
        assert read_record(tmp_path / f"{name}.json").run_id == "20261206T083833Z-3fa2c1"
