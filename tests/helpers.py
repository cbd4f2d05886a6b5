"""What the tests share beyond whole workflow runs: the command line and its one-sentence errors,
a command bounded in time with all it starts, bounded waits, a process's descendants, work on a
thread, a guard that fails a test rather than let it hang, generated lines with any line ending,
and a built report's files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from hypothesis import strategies as st

POOLPIPE = [sys.executable, "-m", "poolpipe.cli"]
"""The `poolpipe` command, run by this interpreter."""

LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b" \n", b"\t\n", b""])
"""How a generated line may end: LF, CRLF, a pad before LF, or glued to the next line."""


def with_line_ends(parts: st.SearchStrategy[list[bytes]]) -> st.SearchStrategy[bytes]:
    """A file's bytes from generated lines, each given one of LINE_ENDS."""
    return parts.flatmap(
        lambda found: st.lists(LINE_ENDS, min_size=len(found), max_size=len(found)).map(
            lambda ends: b"".join(p + e for p, e in zip(found, ends, strict=True))
        )
    )


def run_poolpipe(
    *args: str | os.PathLike[str], timeout: float = 120, **how: Any
) -> subprocess.CompletedProcess[str]:
    """Run the poolpipe command, bounded in time, its output captured as text; how holds more
    of subprocess.run's keywords (preexec_fn, env)."""
    return subprocess.run(
        [*POOLPIPE, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **how,
    )


def run_in_group(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run args in a process group of their own, output captured as text; past timeout, the
    whole group is killed (what they started too, where subprocess.run kills only args[0])
    and TimeoutExpired raised."""
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def one_sentence(done: subprocess.CompletedProcess[str], text: str) -> None:
    """rc 1, nothing on stdout, and stderr one line holding text, no traceback."""
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("poolpipe: error: ")
    assert text in lines[0], lines[0]


def namespace_allows(script: str) -> bool:
    """Whether script succeeds as root of a user and mount namespace of its own (unshare -rm):
    a test that mounts there is skipped where it does not."""
    try:
        run = subprocess.run(
            ["unshare", "-rm", "sh", "-c", script], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, step: float = 0.01) -> bool:
    """Poll condition every step seconds until it holds or timeout passes; True if it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)
    return True


def children(pid: int | None = None, *, zombies: bool = True) -> set[int]:
    """PIDs of every descendant of pid (default: this process), zombies too unless told not;
    none once pid is gone."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    found = set()
    for kid in kids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if zombies or kid.status() != psutil.STATUS_ZOMBIE:
                found.add(kid.pid)
    return found


def alive(pid: int) -> bool:
    """True if pid is a running process (a zombie counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def in_thread(action: Callable[[], None]) -> threading.Thread:
    """Start action on a daemon thread."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


class Hung(Exception):
    """Raised by the SIGALRM guard when a test ran past its time."""


@contextlib.contextmanager
def time_guard(seconds: int) -> Iterator[None]:
    """Fail (never hang) the block if it runs past `seconds`."""

    def _fire(_signum: int, _frame: object) -> None:
        raise Hung(f"test ran past {seconds}s")

    saved = signal.signal(signal.SIGALRM, _fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, saved)


def write_report(built: Any, out: Path) -> None:
    """Write a built timing report as out/r.html, out/t.csv and out/s.md."""
    from poolpipe.report.page import write

    write(
        built,
        html_path=str(out / "r.html"),
        csv_path=str(out / "t.csv"),
        summary_path=str(out / "s.md"),
    )
