"""Processes that leave their program's process group, as a daemon does (fork, setsid, fork):
no stop of the group reaches them. The supervisor is a child subreaper while it runs, so
Linux gives them to it when their parent ends; it reaps those that end and, at its stop,
ends the rest (SIGTERM, then SIGKILL) and names them.

Each is waited for by its own pid (waitid P_PID), never by waitpid(-1): the supervisor's
loops and programs are waited for by their Process and Popen objects, whose exit codes a
wait for any child would take.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
GONE_S = 5.0
"""How long, at most, the supervisor waits for SIGKILLed escaped processes to go."""
STEP_S = 0.05
"""The wait between two looks at escaped processes that are stopping."""


@dataclass(frozen=True, kw_only=True)
class ProcStat:
    """What /proc/PID/stat says of a process: its command name, state, parent and group."""

    pid: int
    name: str
    state: str
    ppid: int
    pgid: int


def proc_stat(pid: int) -> ProcStat | None:
    """A process's /proc/PID/stat, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        head, tail = text.rsplit(")", 1)
        fields = tail.split()
        return ProcStat(
            pid=pid,
            name=head.split("(", 1)[1],
            state=fields[0],
            ppid=int(fields[1]),
            pgid=int(fields[2]),
        )
    except (OSError, ValueError, IndexError):
        return None


def proc_table() -> Iterator[ProcStat]:
    """Every process this one can see in /proc."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None:
                yield stat


def children() -> set[int]:
    """This process's children, zombies too."""
    me = os.getpid()
    try:
        tasks = os.listdir(f"/proc/{me}/task")
        Path(f"/proc/{me}/task/{me}/children").stat()
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN: the whole table, slower
        return {p.pid for p in proc_table() if p.ppid == me}
    found: set[int] = set()
    for task in tasks:  # a process given to a subreaper goes to any of its threads
        with contextlib.suppress(OSError):
            found.update(map(int, Path(f"/proc/{me}/task/{task}/children").read_text().split()))
    return found


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """Be a child subreaper while the block runs (as before it, after), where Linux allows."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        before = ctypes.c_int(0)
        libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        yield
        return
    try:
        yield
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, before.value, 0, 0, 0)


def _reaped(pid: int) -> bool:
    """Reap pid if it has ended; whether it is gone (ended, or no child of ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG) is not None
    except ChildProcessError:
        return True


class Escaped:
    """The children this process did not have when made and does not own (own() gives those
    it does: its loops' and programs' pids): processes given to it as their subreaper."""

    def __init__(self, own: Callable[[], set[int]]) -> None:
        self.own = own
        self.before = children()

    def reap(self) -> set[int]:
        """Reap every escaped process that has ended; the pids of those still running."""
        strays = children() - self.before - self.own()
        return {pid for pid in strays if not _reaped(pid)}

    def stop(self, timeout_s: float, hurry: Any) -> list[str]:
        """SIGTERM every escaped process, and each that an ending one leaves to us, until none
        is left or timeout_s passes (less once hurry has a signal), then SIGKILL the rest; each
        one's command name and pid, 'killed' where it took SIGKILL."""
        named: dict[int, str] = {}
        killed: set[int] = set()
        deadline = time.monotonic() + timeout_s
        give_up: float | None = None  # set once SIGKILL is due
        while live := self.reap():
            now = time.monotonic()
            if give_up is None and (now >= deadline or hurry.signum is not None):
                give_up = now + GONE_S
            if give_up is not None and now >= give_up:
                break
            for pid in live:  # unreaped children of ours: their pids cannot be reused
                if pid not in named:
                    stat = proc_stat(pid)
                    named[pid] = stat.name if stat else "?"
                elif give_up is None:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM if give_up is None else signal.SIGKILL)
                if give_up is not None:
                    killed.add(pid)
            time.sleep(STEP_S)
        return [
            f"{name} (pid {pid}{', killed' if pid in killed else ''})"
            for pid, name in sorted(named.items())
        ]
