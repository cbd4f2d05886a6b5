"""Real programs under `poolpipe supervise --program`: a python script supervised through a
crash, a backoff and a Ctrl-C, its output in its log, and no process of its group left
(checked in /proc); a stale heartbeat file; a program that finishes; the workflow's config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from poolpipe.errors import PoolpipeError
from poolpipe.supervise import Program, check_supervised, programs_from_config, supervise
from poolpipe.supervise.loops import SupervisorSettings
from poolpipe.supervise.program import parse_program, with_heartbeats
from poolpipe.supervise.report import SupervisedRun, check

from ..helpers import in_thread, wait_until

POOLPIPE = str(Path(sys.executable).with_name("poolpipe"))

SCRIPT = """\
import os, subprocess, sys, time
from pathlib import Path

here = Path(sys.argv[1])
marker = here / "ran-once"
child = subprocess.Popen(["sleep", "600"])  # a process of its group the stop must end too
with (here / "pids").open("a") as fh:
    fh.write(f"{os.getpid()} {child.pid}\\n")
first = not marker.exists()
print("run", "first" if first else "again", flush=True)
print("to stderr", file=sys.stderr, flush=True)
if first:
    marker.write_text("x")
    sys.exit(3)
if len(sys.argv) > 2 and sys.argv[2] == "finish":
    child.kill()
    sys.exit(0)
stall = len(sys.argv) > 2 and sys.argv[2] == "stall"
for _ in range(60000):
    if not stall:
        (here / "beat").touch()
    time.sleep(0.02)
"""


def _proc_state(pid: int) -> str | None:
    """A process's state letter from /proc (None if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[0]


def _left_behind(pids: list[int]) -> list[int]:
    """The pids still running (a zombie has ended)."""
    return [pid for pid in pids if _proc_state(pid) not in (None, "Z")]


def _pids(work: Path) -> list[int]:
    text = (work / "pids").read_text() if (work / "pids").exists() else ""
    return [int(p) for p in text.split()]


def _status(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    if len(lines) != 2:
        return {}
    return dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))


def _until_signalled(args: list[str], ready: Callable[[], bool], signum: int) -> tuple[int, str]:
    """Start the command in its own session, send it signum once ready() holds, and return
    its exit status and stderr; it is SIGKILLed if anything goes wrong."""
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_until(ready, timeout=60), "the supervised programs never got ready"
        assert proc.poll() is None
        os.kill(proc.pid, signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    return proc.returncode, stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "crashy.py").write_text(SCRIPT)
    (tmp_path / "w").mkdir()
    return tmp_path


def _command(work: Path, *extra: str) -> str:
    return " ".join([sys.executable, str(work / "crashy.py"), str(work / "w"), *extra])


def test_a_program_survives_a_crash_and_a_ctrl_c_leaves_no_process(work: Path) -> None:
    w = work / "w"
    args = [
        POOLPIPE,
        "supervise",
        "--program",
        f"crashy={_command(work)}",
        "--heartbeat",
        f"crashy={w / 'beat'}",
        "--restart",
        "--restart-backoff",
        "0.2",
        "--restart-jitter",
        "0",
        "--status-file",
        str(w / "status.tsv"),
        "--log-dir",
        str(w / "logs"),
        "--out",
        str(w / "ticks.tsv"),
    ]
    status = w / "status.tsv"
    rc, stderr = _until_signalled(
        args,
        lambda: (
            _status(status).get("restarts") == "1"
            and _status(status).get("state") == "running"
            and int(_status(status).get("ticks", "0")) >= 2
        ),
        signal.SIGINT,  # Ctrl-C reaches the supervisor only: the programs have their own session
    )
    assert rc == 130, stderr
    assert "Traceback" not in stderr
    assert "process crashy" in stderr and "died with exit code 3 after 0 heartbeats" in stderr
    assert stderr.splitlines()[-1] == "poolpipe: stopped by SIGINT"
    pids = _pids(w)
    assert len(pids) == 4  # two runs, each the program and its child
    assert _left_behind(pids) == []
    log = (w / "logs" / "crashy.log").read_text()
    assert log.count("run first") == 1 and log.count("run again") == 1
    assert log.count("to stderr") == 2
    header, row = (w / "ticks.tsv").read_text().splitlines()
    assert header == "process\tticks\trestarts\texit_code\tstatus"
    name, ticks, restarts, code, status = row.split("\t")
    assert (name, restarts, code, status) == ("crashy", "1", "-15", "stopped")
    assert int(ticks) >= 2


def test_a_program_whose_heartbeat_goes_stale_is_stalled_and_restarted(work: Path) -> None:
    w = work / "w"
    settings = SupervisorSettings(
        restart=True,
        max_restarts=1,
        heartbeat_timeout_s=0.5,
        restart_backoff_s=0.1,
        restart_jitter=0,
    )
    program = Program(name="still", command=_command(work, "stall"), heartbeat=str(w / "beat"))
    run = supervise([], settings, programs=[program], log_dir=str(w / "logs"))
    assert [(r.process, r.restarts, r.status) for r in run.rows] == [("still", 1, "stalled")]
    assert _left_behind(_pids(w)) == []
    with pytest.raises(PoolpipeError, match=r"^program 'still' stalled \(signal SIGKILL\)$"):
        check(run)


def test_a_program_that_exits_0_has_finished_and_is_not_restarted(work: Path) -> None:
    w = work / "w"
    settings = SupervisorSettings(restart=True, restart_backoff_s=0.1, restart_jitter=0)
    program = Program(name="once", command=_command(work, "finish"))
    run = supervise([], settings, programs=[program], log_dir=str(w / "logs"))
    assert [(r.process, r.restarts, r.exit_code, r.status) for r in run.rows] == [
        ("once", 1, 0, "finished")
    ]
    assert _left_behind(_pids(w)) == []


def test_a_sigterm_stops_every_program_group_in_order(work: Path) -> None:
    w = work / "w"
    (w / "ran-once").write_text("x")  # no first crash: both run at once
    args = [POOLPIPE, "supervise", "--log-dir", str(w / "logs"), "--out", str(w / "ticks.tsv")]
    for name in ("a", "b"):
        args += ["--program", f"{name}={_command(work)}"]
    rc, stderr = _until_signalled(args, lambda: len(_pids(w)) == 4, signal.SIGTERM)
    assert rc == 143, stderr
    assert _left_behind(_pids(w)) == []
    rows = (w / "ticks.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[0] for r in rows] == ["a", "b"]
    assert [r.split("\t")[-1] for r in rows] == ["stopped", "stopped"]


def test_a_program_comes_from_the_config_and_its_words_are_split_as_a_shell_would() -> None:
    programs = programs_from_config(
        [{"name": "echo", "command": "printf '%s\\n' 'a b' c", "heartbeat": None}]
    )
    assert programs[0].argv == ("printf", "%s\\n", "a b", "c")
    assert parse_program("x=sleep 1").argv == ("sleep", "1")
    beat = with_heartbeats([parse_program("x=sleep 1")], ["x=/tmp/beat"])
    assert beat[0].heartbeat == "/tmp/beat"


@pytest.mark.parametrize(
    ("make", "sentence"),
    [
        (lambda: parse_program("sleep 1"), "'sleep 1' is not NAME=COMMAND [ARGS...]"),
        (lambda: parse_program("=sleep 1"), "'=sleep 1' is not NAME=COMMAND [ARGS...]"),
        (lambda: parse_program("x="), "program 'x': command must not be empty, not ''"),
        (lambda: parse_program("x=   "), "program 'x': command is empty"),
        (
            lambda: parse_program("x=echo 'open"),
            "program 'x': command cannot be split: No closing quotation",
        ),
        (
            lambda: parse_program("a b=sleep 1"),
            "program 'a b': name must match ^(?!\\.+$)[A-Za-z0-9_.-]+$",
        ),
        (
            lambda: with_heartbeats([parse_program("x=sleep 1")], ["y=/tmp/beat"]),
            "--heartbeat names 'y', which is no --program",
        ),
        (
            lambda: with_heartbeats([parse_program("x=sleep 1")], ["x=/tmp/a", "x=/tmp/b"]),
            "--heartbeat names 'x' twice",
        ),
    ],
)
def test_a_bad_program_is_one_sentence(make: Callable[[], object], sentence: str) -> None:
    with pytest.raises(PoolpipeError) as refused:
        make()
    assert str(refused.value) == sentence


@pytest.mark.parametrize("status", [False, True])
def test_a_program_that_cannot_be_started_is_one_sentence(tmp_path: Path, status: bool) -> None:
    """With a status file too (as the workflow keeps one), whose last writing must not trip
    over the program that never started."""
    program = parse_program("x=/nonexistent/program --flag")
    where = str(tmp_path / "status.tsv") if status else None
    with pytest.raises(PoolpipeError) as refused:
        supervise([], SupervisorSettings(), status=where, programs=[program], log_dir=str(tmp_path))
    assert str(refused.value) == (
        "program 'x' cannot be started: '/nonexistent/program': No such file or directory"
    )


@pytest.mark.parametrize("stop_at", ["running", "backoff"])
def test_a_stop_within_the_restarts_is_a_stop_whether_it_runs_or_waits(
    tmp_path: Path, stop_at: str
) -> None:
    """The run's verdict does not hang on the moment the stop lands: a program between a crash
    and its restart is stopped, as a running one is; only one past max_restarts fails it."""
    settings = SupervisorSettings(
        restart=True, max_restarts=5, restart_backoff_s=0.3, restart_jitter=0, duration_s=0.45
    )
    # crashes at once: with a 0.3 s wait, a stop at 0.45 s finds it waiting; with 0.5 s of life
    # first, running
    life = "0.5" if stop_at == "running" else "0"
    program = Program(name="crashy", command=f"sh -c 'sleep {life}; exit 3'")
    run = supervise([], settings, programs=[program], log_dir=str(tmp_path / "logs"))
    assert [r.status for r in run.rows] == ["stopped"]
    check(run)  # no error: within its restarts


@pytest.mark.parametrize("where", ["missing/beat", "folder"])
def test_a_heartbeat_in_a_missing_folder_or_that_is_one_is_one_sentence(
    tmp_path: Path, where: str
) -> None:
    beat = str(tmp_path / where)
    if where == "folder":
        os.mkdir(beat)
    program = Program(name="x", command="sleep 5", heartbeat=beat)
    with pytest.raises(PoolpipeError) as refused:
        supervise([], SupervisorSettings(duration_s=1), programs=[program], log_dir=str(tmp_path))
    assert str(refused.value) == (
        f"program 'x': the folder of its heartbeat file {beat!r} does not exist"
        if where != "folder"
        else f"program 'x': its heartbeat file {beat!r} is a folder"
    )
    assert list(tmp_path.iterdir()) == ([] if where != "folder" else [Path(beat)])  # no start


@pytest.mark.parametrize("how", ["same", "symlink", "hard link"])
def test_two_programs_beating_one_file_are_refused_before_any_start(
    tmp_path: Path, how: str
) -> None:
    """By the same path, through a symlink or a hard link; from the config as from code."""
    first, second = tmp_path / "beat", tmp_path / "other"
    first.touch()
    if how == "symlink":
        second.symlink_to(first)
    elif how == "hard link":
        os.link(first, second)
    beats = {"a": str(first), "b": str(first if how == "same" else second)}
    items = [{"name": n, "command": "sleep 5", "heartbeat": b} for n, b in beats.items()]
    sentence = (
        f"heartbeat of 'b' {beats['b']!r} is the same file as heartbeat of 'a' {beats['a']!r}: "
        "choose another path"
    )
    with pytest.raises(PoolpipeError) as refused:
        check_supervised([], programs_from_config(items))
    assert str(refused.value) == sentence
    logs = tmp_path / "logs"
    with pytest.raises(PoolpipeError) as refused:
        supervise([], SupervisorSettings(), programs=programs_from_config(items), log_dir=str(logs))
    assert str(refused.value) == sentence
    assert not logs.exists()  # nothing started


CHILD = """\
import os, signal, sys, time
from pathlib import Path

here, how = Path(sys.argv[1]), sys.argv[2]

def shut_down(*_):
    time.sleep(0.3)  # a clean shutdown that takes a while
    (here / "shut-down").write_text("x")
    sys.exit(0)

def note(*_):
    (here / "got-term").write_text("x")  # and goes on: deaf, but the test sees the signal came

signal.signal(signal.SIGTERM, {"graceful": shut_down, "noting": note}.get(how, signal.SIG_IGN))
(here / "child").write_text(str(os.getpid()))
for _ in range(6000):
    time.sleep(0.01)
"""


def _group_program(work: Path, how: str, leader: str) -> Program:
    """A shell leading the group, its python child (graceful on SIGTERM, deaf to it, or deaf
    noting it came)."""
    (work / "child.py").write_text(CHILD)
    child = f"{sys.executable} {work / 'child.py'} {work} {how}"
    return Program(name="g", command=f"sh -c '{child} & {leader}'")


def _supervise_until_child(
    work: Path, program: Program, settings: SupervisorSettings, stop: bool
) -> SupervisedRun:
    """Supervise program here; once its child is up, SIGTERM this process if stop; the child
    is killed whatever happens."""

    def stopper() -> None:
        if wait_until(lambda: (work / "child").exists(), timeout=30):
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        if stop:
            in_thread(stopper)
        return supervise([], settings, programs=[program], log_dir=str(work / "logs"))
    finally:
        if (work / "child").exists() and _left_behind([int((work / "child").read_text())]):
            os.kill(int((work / "child").read_text()), signal.SIGKILL)


@pytest.mark.parametrize(("how", "status"), [("graceful", "stopped"), ("deaf", "killed")])
def test_the_stop_timeout_is_for_the_whole_group_not_only_its_leader(
    tmp_path: Path, how: str, status: str, no_leftovers: None
) -> None:
    """The shell leading the group ends at once on SIGTERM; its child's clean shutdown runs to
    its end, and one that ignores SIGTERM is SIGKILLed once the stop timeout passes: killed."""
    settings = SupervisorSettings(stop_timeout_s=30 if how == "graceful" else 0.5, duration_s=60)
    run = _supervise_until_child(tmp_path, _group_program(tmp_path, how, "wait"), settings, True)
    assert run.signal == signal.SIGTERM
    assert [(r.exit_code, r.status) for r in run.rows] == [(-signal.SIGTERM, status)]
    assert (tmp_path / "shut-down").exists() == (how == "graceful")
    assert _left_behind([int((tmp_path / "child").read_text())]) == []


def test_what_an_ended_program_left_gets_sigterm_and_the_stop_timeout(
    tmp_path: Path, no_leftovers: None
) -> None:
    leader = f"while [ ! -e {tmp_path / 'child'} ]; do sleep 0.02; done"
    settings = SupervisorSettings(stop_timeout_s=30, duration_s=60)
    program = _group_program(tmp_path, "graceful", leader)
    run = _supervise_until_child(tmp_path, program, settings, False)
    assert [(r.exit_code, r.status) for r in run.rows] == [(0, "finished")]
    assert (tmp_path / "shut-down").exists()


def test_a_signal_ends_the_wait_for_what_an_ended_program_left(
    tmp_path: Path, no_leftovers: None
) -> None:
    """The leader dies; its deaf child gets SIGTERM and the stop timeout (600 s here). A
    signal then ends that wait and the run stops, the child SIGKILLed."""
    leader = f"while [ ! -e {tmp_path / 'child'} ]; do sleep 0.02; done; exit 3"
    program = _group_program(tmp_path, "noting", leader)
    settings = SupervisorSettings(stop_timeout_s=600, duration_s=600)
    returned = threading.Event()
    late: list[bool] = []

    def stopper() -> None:
        if wait_until(lambda: (tmp_path / "got-term").exists(), timeout=60):  # in the wait
            os.kill(os.getpid(), signal.SIGTERM)
            late.append(not returned.wait(timeout=60))
        child = tmp_path / "child"
        if not returned.is_set() and child.exists():  # never left waiting on a failure
            os.kill(int(child.read_text()), signal.SIGKILL)

    thread = in_thread(stopper)
    try:
        run = supervise([], settings, programs=[program], log_dir=str(tmp_path / "logs"))
    finally:
        returned.set()
        thread.join(timeout=120)
    assert late == [False], "the signal did not end the wait"
    assert run.signal == signal.SIGTERM
    assert _left_behind([int((tmp_path / "child").read_text())]) == []


DAEMON = """\
import os, sys, time

here, life = sys.argv[1], sys.argv[2]
if os.fork() == 0:  # a daemon: out of the program's group and session, its parent gone
    os.setsid()
    pid = os.fork()
    if pid == 0:
        os.execvp("sleep", ["sleep", life])
    with open(f"{here}/daemon.tmp", "w") as fh:
        fh.write(str(pid))
    os.replace(f"{here}/daemon.tmp", f"{here}/daemon")
    os._exit(0)
time.sleep(600)
"""


def _supervise_a_daemon(work: Path, life: str, ready: Callable[[int], bool]) -> SupervisedRun:
    """Supervise a program that starts a daemon living life seconds; SIGTERM this process once
    ready(daemon's pid) holds (or 30 s passed, which fails the test); the daemon is killed
    whatever happens."""
    seen: list[bool] = []
    (work / "daemon.py").write_text(DAEMON)
    program = Program(name="d", command=f"{sys.executable} {work / 'daemon.py'} {work} {life}")
    daemon = work / "daemon"

    def stopper() -> None:
        seen.append(
            wait_until(lambda: daemon.exists() and ready(int(daemon.read_text())), timeout=30)
        )
        os.kill(os.getpid(), signal.SIGTERM)

    try:
        in_thread(stopper)
        settings = SupervisorSettings(duration_s=60, stop_timeout_s=30)
        run = supervise([], settings, programs=[program], log_dir=str(work / "logs"))
    finally:
        pid = int(daemon.read_text()) if daemon.exists() else None
        if pid is not None and _left_behind([pid]) and psutil.Process(pid).name() == "sleep":
            os.kill(pid, signal.SIGKILL)
    assert seen == [True], "the daemon never reached the state the test waits for"
    return run


def test_a_process_that_left_its_programs_group_is_stopped_and_named(
    tmp_path: Path, no_leftovers: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon (fork, setsid, fork) is out of reach of a stop of its program's group: the
    supervisor, its subreaper, adopts it, stops it at the end and says so."""

    def adopted(pid: int) -> bool:
        return psutil.Process(pid).ppid() == os.getpid()

    with caplog.at_level("WARNING", logger="poolpipe.supervise.supervisor"):
        run = _supervise_a_daemon(tmp_path, "600", adopted)
    pid = int((tmp_path / "daemon").read_text())
    assert _proc_state(pid) is None  # stopped and reaped
    assert [(r.status, run.signal) for r in run.rows] == [("stopped", signal.SIGTERM)]
    assert run.escaped == [f"sleep (pid {pid})"]
    assert caplog.messages == [
        f"stopped 1 process that had left its program's process group: sleep (pid {pid})"
    ]


def test_a_process_that_left_its_programs_group_and_ended_is_reaped_at_once(
    tmp_path: Path, no_leftovers: None
) -> None:
    """Given to the supervisor, it is reaped as it ends, while the run goes on: no zombie."""
    run = _supervise_a_daemon(tmp_path, "0.2", lambda pid: _proc_state(pid) is None)
    pid = int((tmp_path / "daemon").read_text())
    assert (run.signal, run.escaped, _proc_state(pid)) == (signal.SIGTERM, [], None)
