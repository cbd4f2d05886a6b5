"""Integration: the documented command, `make run`, stopped anywhere and run again (bench/chaos.py),
and two runs started at once in one folder."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from ..helpers import namespace_allows, wait_until
from ..workflow_helpers import LOCAL_ENV, ROOT

sys.path.insert(0, str(ROOT / "bench"))
import chaos

pytestmark = pytest.mark.integration
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs per point (root)")


# make's own variables from an outer make (`make test`) would make this a sub-make, whose
# messages read "make[1]:": the user types `make run` in a shell.
SHELL_ENV = {k: v for k, v in LOCAL_ENV.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}


def make_run(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The documented command, `make run ARGS`, in work, as typed in a shell; bounded in time."""
    return subprocess.run(
        ["make", "run", *args],
        cwd=work,
        env=SHELL_ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_second_run_in_the_same_folder_is_refused_with_one_sentence(tmp_path):
    work = tmp_path / "wf"
    chaos.prepare(work)
    (work / ".snakemake").mkdir()
    with (work / ".snakemake/run.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the first run holds it
        done = make_run(work, "LOCK_WAIT=0")
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "make run: another run is working in this folder (it holds .snakemake/run.lock) and did "
        "not end within 0 s"
    )
    assert len(lines) == 2 and re.fullmatch(
        r"make: \*\*\* \[Makefile:\d+: run\] Error 75", lines[1]
    )
    assert not (work / "results").exists()


def test_make_run_in_another_folder_takes_that_folders_lock(tmp_path):
    # make holds its own folder's lock; with --directory X in ARGS, the run works in X, so
    # a run holding X's lock must refuse it
    work, other = tmp_path / "wf", tmp_path / "other"
    chaos.prepare(work)
    shutil.copytree(work / "config", other / "config")
    (other / ".snakemake").mkdir()
    with (other / ".snakemake/run.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a run in X holds it
        done = make_run(work, f"ARGS=--directory {other} --config stages=[sum]", "LOCK_WAIT=0")
    assert done.returncode != 0
    assert (
        "another run is working in this folder (it holds .snakemake/run.lock): wait for it, or "
        "stop it"
    ) in done.stderr.splitlines()
    assert not (other / "results").exists()


def _snakemake(work: Path, *script: str) -> subprocess.CompletedProcess[str]:
    """A plain `.venv/bin/snakemake --cores 2` in work, as the README's own-data commands run it,
    after the shell lines of script (in a mount namespace of its own, as root there)."""
    command = " && ".join([*script, ".venv/bin/snakemake --cores 2 --config 'stages=[sum]'"])
    env = {k: v for k, v in SHELL_ENV.items() if k != "POOLPIPE_RUN_LOCK"}
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", command] if script else ["sh", "-c", command],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _held(lock: Path) -> bool:
    """Whether a process holds a flock on lock, read from /proc/locks (taking the lock to see
    would make the run being watched find it held)."""
    if not lock.exists():
        return False
    inode = f":{lock.stat().st_ino} "
    return any(
        " FLOCK " in f" {line} " and inode in line
        for line in Path("/proc/locks").read_text().splitlines()
    )


def test_a_plain_snakemake_beside_a_run_is_refused_and_takes_the_lock_itself(tmp_path):
    work = tmp_path / "wf"
    chaos.prepare(work)
    (work / ".snakemake").mkdir()
    with (work / ".snakemake/run.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `make run` holds it
        done = _snakemake(work)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "another run is working in this folder (it holds .snakemake/run.lock): wait for it, or "
        "stop it"
    )
    assert not (work / "results").exists()
    # and a plain run holds it while it works: `make run` beside it waits, then is refused
    proc = subprocess.Popen(
        [".venv/bin/snakemake", "--cores", "1", "--config", "stages=[sum]"],
        cwd=work,
        env={k: v for k, v in SHELL_ENV.items() if k != "POOLPIPE_RUN_LOCK"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        lock = work / ".snakemake/run.lock"
        assert wait_until(lambda: proc.poll() is not None or _held(lock), 60), "no lock in 60 s"
        refused = make_run(work, "LOCK_WAIT=0")
    finally:
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert refused.returncode != 0 and refused.stderr.startswith(
        "make run: another run is working in this folder"
    ), refused.stderr


def _can_bind_read_only(tmp_path: Path) -> bool:
    """Whether a folder can be bind-mounted read-only in a mount namespace of the test's own."""
    probe = tmp_path / "probe"
    probe.mkdir()
    return namespace_allows(f"mount --bind {probe} {probe} && mount -o remount,bind,ro {probe}")


@pytest.mark.parametrize("folder", ["logs", "results/timing"])
def test_a_read_only_output_folder_is_one_sentence_before_any_job(tmp_path, folder):
    if not _can_bind_read_only(tmp_path):
        pytest.skip("needs unshare and a bind mount in a namespace of its own")
    work = tmp_path / "wf"
    chaos.prepare(work)
    (work / folder).mkdir(parents=True)
    bind = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
    done = _snakemake(work, bind)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"the run cannot write its results: {folder!r} is on a read-only file system"
    )
    assert "Traceback" not in done.stderr
    assert not (work / "data").exists()  # no job ran


def test_a_read_only_folder_the_run_does_not_write_is_left_alone(tmp_path):
    if not _can_bind_read_only(tmp_path):
        pytest.skip("needs unshare and a bind mount in a namespace of its own")
    work = tmp_path / "wf"
    chaos.prepare(work)
    (work / "data/raw").mkdir(parents=True)
    done = _snakemake(work, "mount --bind data/raw data/raw && mount -o remount,bind,ro data/raw")
    assert done.returncode == 0, done.stderr
    assert (work / "results/sum/numbers/total.json").exists()


def test_a_lock_left_by_a_killed_snakemake_needs_no_unlock(tmp_path):
    """A SIGKILLed Snakemake leaves its own lock files behind, naming what it was making; the
    next `make run` goes on (its kernel lock went with the killed process)."""
    work = tmp_path / "wf"
    chaos.prepare(work)
    target = "results/sum/numbers/total.json"
    locks = work / ".snakemake/locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{target}\n")
    (locks / "0.input.lock").write_text("data/numbers.txt\n")
    done = make_run(work, f"ARGS={target}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / target).is_file()


@root_only
@pytest.mark.slow
def test_ten_seeded_stops_of_every_kind_end_in_the_same_results_with_no_manual_step():
    """Three points at once: a point's runs are mostly job start-ups, one at a time, which
    leave a core idle."""
    lines: list[str] = []
    outcomes = chaos.run(10, seed=1, parallel=3, report=lines.append)
    summary = chaos.table(outcomes)
    assert len(outcomes) == 10, summary
    assert {o.kind for o in outcomes} == set(chaos.KINDS)
    assert all(o.identical for o in outcomes), "\n".join([*lines, summary])
    assert sum(o.manual for o in outcomes) == 0, "\n".join([*lines, summary])
    assert [o.leftovers for o in outcomes] == [[]] * 10, "\n".join([*lines, summary])


@root_only
def test_filling_a_disk_ends_cleanly_whatever_room_is_left(tmp_path, monkeypatch):
    # The run writes too, so fallocate may fail and the last write land in part: a buffered
    # file kept that part's tail and raised ENOSPC again when it closed.
    monkeypatch.setattr(os, "posix_fallocate", _no_fallocate)
    with chaos.tmpfs(tmp_path / "disk") as disk:
        (disk / "taken").write_bytes(b"x" * 4096)  # room left: not a whole number of writes
        chaos.fill(disk)
        assert os.statvfs(disk).f_bavail == 0


def _no_fallocate(fd: int, offset: int, length: int) -> None:
    raise OSError(95, "Operation not supported")


def test_the_harness_takes_clocks_out_and_nothing_else(tmp_path):
    """A crawl row's elapsed_ms and a task row's start, runtime and worker are clocks; its
    sha256 is not."""
    pages = tmp_path / "pages.tsv"
    pages.write_text("line\turl\telapsed_ms\tsha256\n1\tu\t54\taa\n")
    other = tmp_path / "other.tsv"
    other.write_text("line\turl\telapsed_ms\tsha256\n1\tu\t99\taa\n")
    norm = chaos._normalise("results/crawl/d/pages.tsv", pages.read_bytes(), pages)
    assert norm == chaos._normalise("results/crawl/d/pages.tsv", other.read_bytes(), pages)
    other.write_text("line\turl\telapsed_ms\tsha256\n1\tu\t54\tab\n")
    assert norm != chaos._normalise("results/crawl/d/pages.tsv", other.read_bytes(), pages)
    assert chaos._normalise("results/sum/d/total.json", b"{}", Path("total.json")) == b"{}"


def test_a_process_that_outlives_a_sigterm_is_killed_and_named():
    """As a batch system does after its grace time; the harness counts the point apart."""
    ignore = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint(flush=True)\n"
    )
    stubborn = subprocess.Popen(
        [sys.executable, "-c", ignore + "time.sleep(120)"], stdout=subprocess.PIPE
    )
    quick = subprocess.Popen([sys.executable, "-c", "import time\ntime.sleep(120)"])
    try:
        assert stubborn.stdout is not None
        stubborn.stdout.readline()  # its handler is set
        for proc in (stubborn, quick):
            proc.send_signal(signal.SIGTERM)
        forced: list[str] = []
        chaos.kill_after([psutil.Process(stubborn.pid), psutil.Process(quick.pid)], forced, 2.0)
        assert stubborn.wait(timeout=30) == -signal.SIGKILL
        assert forced == [Path(sys.executable).name]
    finally:
        for proc in (stubborn, quick):
            proc.kill()
            proc.wait()


def test_a_moment_is_found_again_by_the_jobs_the_run_started(tmp_path):
    """A moment of the uninterrupted run is said as jobs started and a wait after the last."""
    ref = chaos.Reference(wall_s=10.0, files={}, starts=[1.0, 2.0, 6.0])
    moments = [chaos.moment(ref, chaos.random.Random(n)) for n in range(200)]
    for at in moments:
        assert 0 <= at.jobs <= 3
        begun = ref.starts[at.jobs - 1] if at.jobs else 0.0
        following = ref.starts[at.jobs] if at.jobs < 3 else ref.wall_s
        assert at.wait_s >= 0.0 and begun + at.wait_s <= following
    assert {at.jobs for at in moments} == {0, 1, 2, 3}
    log = tmp_path / "run.log"
    log.write_bytes(b"old\nlocalrule all:\n")
    offset = log.stat().st_size
    log.write_bytes(log.read_bytes() + b"rule sum_chunk:\n    jobid: 3\nlocalrule merge_sum:\n")
    assert chaos.started(log, offset) == 2
    assert chaos.started(log, 0) == 3
    assert chaos.started(tmp_path / "absent.log", 0) == 0
