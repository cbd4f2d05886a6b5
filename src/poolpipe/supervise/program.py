"""A supervised program: a real command in its own process group, its output in a log file.

A program is started with its stdout and stderr appended to `<log_dir>/<name>.log` (opened
with O_NOFOLLOW, so never through a symlink), stdin from /dev/null, in a new session, so
that its process group holds it and every process it starts: Ctrl-C at the terminal reaches
the supervisor only, which then stops each group in order (SIGTERM to the group, SIGKILL to
the group once stop_timeout_s passes with any process of it left) and waits until none is.
A program dies with its supervisor (PR_SET_PDEATHSIG), though what it started may outlive a
SIGKILLed supervisor.

A program may declare a heartbeat file whose modification time it refreshes: one not
refreshed for heartbeat_timeout_s (counted from the program's start) is stalled, and its
group is killed at once. A program that exits with status 0 has finished and is not
restarted; one that ends, with any status, has what is left of its group stopped as a stop
does (SIGTERM, stop_timeout_s, SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from poolpipe.core.outputs import check_output_path, refuse_overlap
from poolpipe.core.pool import die_with_parent, exit_text
from poolpipe.errors import PoolpipeError
from poolpipe.supervise.escaped import proc_table
from poolpipe.supervise.loops import schema_problem, schema_section
from poolpipe.supervise.process import WAKE_S, Supervised
from poolpipe.supervise.report import LoopStatus

SPEC = "NAME=COMMAND [ARGS...]"
"""How the command line gives a program."""

GROUP_GONE_S = 5.0
"""How long, at most, the supervisor waits for a killed group's last process to go."""

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, kw_only=True)
class Program:
    """A named command line (split as a POSIX shell splits words, never run by a shell), and
    the heartbeat file it refreshes, if any."""

    name: str
    command: str
    heartbeat: str | None = None
    argv: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        rules = schema_section()["programs"]["items"]["properties"]
        for key in ("name", "command", "heartbeat"):
            value = getattr(self, key)
            problem = schema_problem(value, rules[key])
            if problem:
                shown = "" if key == "name" else f", not {value!r}"
                raise PoolpipeError(f"program {self.name!r}: {key} {problem}{shown}")
        try:
            argv = tuple(shlex.split(self.command))
        except ValueError as exc:
            raise PoolpipeError(f"program {self.name!r}: command cannot be split: {exc}") from None
        if not argv:
            raise PoolpipeError(f"program {self.name!r}: command is empty")
        object.__setattr__(self, "argv", argv)


def program_log(log_dir: str | os.PathLike[str], name: str) -> str:
    """Where a program's output is appended."""
    return os.path.join(log_dir, f"{name}.log")


def check_paths(
    programs: Sequence[Program],
    log_dir: str | os.PathLike[str],
    outputs: dict[str, str | os.PathLike[str] | None],
) -> None:
    """Before any start: every program's log can be written, and no output (a log included)
    is another output or a program's heartbeat file; one sentence if not."""
    logs = {f"log of {p.name!r}": program_log(log_dir, p.name) for p in programs}
    for label, path in logs.items():
        check_output_path(path, label)
    refuse_overlap(
        inputs={f"heartbeat of {p.name!r}": p.heartbeat for p in programs},
        outputs={**outputs, **logs},
    )


def parse_program(spec: str) -> Program:
    """A program from NAME=COMMAND [ARGS...], as the command line gives it."""
    name, sep, command = spec.partition("=")
    if not sep or not name:
        raise PoolpipeError(f"{spec!r} is not {SPEC}")
    return Program(name=name, command=command)


def programs_from_config(items: Sequence[dict[str, Any]]) -> list[Program]:
    """Programs from the config's supervise.programs list."""
    return [
        Program(name=i["name"], command=i["command"], heartbeat=i.get("heartbeat")) for i in items
    ]


def with_heartbeats(programs: Sequence[Program], specs: Sequence[str]) -> list[Program]:
    """The programs with the heartbeat files NAME=PATH gives them (one sentence for a name
    that is no program's)."""
    beats: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not path:
            raise PoolpipeError(f"{spec!r} is not NAME=PATH")
        if name in beats:  # one file a program: a second one would silently replace the first
            raise PoolpipeError(f"--heartbeat names {name!r} twice")
        beats[name] = path
    names = {p.name for p in programs}
    unknown = sorted(set(beats) - names)
    if unknown:
        raise PoolpipeError(f"--heartbeat names {unknown[0]!r}, which is no --program")
    return [
        Program(name=p.name, command=p.command, heartbeat=beats.get(p.name, p.heartbeat))
        for p in programs
    ]


def _start_child() -> None:
    """In the child, before exec: die with the supervisor; signals as a fresh program has."""
    die_with_parent()
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGXFSZ, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)


class ProgramChild:
    """One run of a program: the process group it leads, as multiprocessing's Process looks to
    the supervisor (pid, exitcode, sentinel, join, terminate, kill), the signals going to the
    whole group."""

    def __init__(self, program: Program, log_fd: int) -> None:
        try:
            self._popen = subprocess.Popen(
                program.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_start_child,
            )
        except OSError as exc:
            raise PoolpipeError(
                f"program {program.name!r} cannot be started: {program.argv[0]!r}: {exc.strerror}"
            ) from None
        self.pid = self._popen.pid
        self.sentinel = os.pidfd_open(self.pid)

    @property
    def exitcode(self) -> int | None:
        """Its exit status (minus the signal that ended it), None while it runs."""
        return self._popen.poll()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the program's own process to end, at most timeout seconds."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=timeout)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def terminate(self) -> None:
        """SIGTERM the whole group."""
        self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the whole group."""
        self._signal_group(signal.SIGKILL)

    def group_alive(self) -> bool:
        """Whether a process of its group, other than a zombie, is left."""
        return any(p.pgid == self.pid and p.state != "Z" for p in proc_table())

    def gone(self, timeout_s: float, hurry: Any = None) -> bool:
        """Wait up to timeout_s (less once hurry, a StopOnSignals, has a signal) until no process
        of its group is left, its own reaped; whether none is."""
        deadline = time.monotonic() + timeout_s
        while self.exitcode is None or self.group_alive():
            left = deadline - time.monotonic()
            if left <= 0 or (hurry is not None and hurry.signum is not None):
                return False
            if self.exitcode is None:
                wait([self.sentinel], timeout=min(WAKE_S, left))  # wakes as it ends
            else:
                time.sleep(min(WAKE_S, left))
        return True

    def end_group(self, grace_s: float = 0.0, hurry: Any = None) -> bool:
        """SIGTERM the group and wait up to grace_s (see gone) for it to go (none: SIGKILL at
        once); then SIGKILL what is left and wait (at most GROUP_GONE_S) for it to go. Whether
        it went before a SIGKILL."""
        if grace_s > 0:
            self.terminate()
        clean = self.gone(grace_s, hurry)
        if not clean:
            deadline = time.monotonic() + GROUP_GONE_S
            self.kill()
            while not self.gone(WAKE_S) and time.monotonic() < deadline:
                self.kill()
        self.close()
        return clean

    def close(self) -> None:
        """Close its pidfd."""
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1


@dataclass(kw_only=True)
class ProgramProcess(Supervised):
    """A program's current run, its log, and its heartbeat file's last modification time."""

    program: Program
    log_path: str
    conn: None = None
    beat_mtime: int | None = None
    _log_fd: int = -1

    @property
    def name(self) -> str:
        """The program's name."""
        return self.program.name

    @property
    def finished(self) -> bool:
        """Whether the program ended by itself with status 0."""
        return self.row.status == "finished"

    def start(self) -> None:
        """Start a run of the program, its output appended to its log."""
        if self._log_fd < 0:
            try:
                os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
                self._log_fd = os.open(self.log_path, _LOG_FLAGS, 0o644)
            except OSError as exc:
                raise PoolpipeError(
                    f"log of program {self.name!r} {self.log_path!r} cannot be written: "
                    f"{exc.strerror}"
                ) from None
        self.proc = ProgramChild(self.program, self._log_fd)
        self.beat_mtime = self._beat()

    def _beat(self) -> int | None:
        if self.program.heartbeat is None:
            return None
        try:
            return os.stat(self.program.heartbeat).st_mtime_ns
        except OSError:
            return None

    def look(self, now: float) -> None:
        """Take a new heartbeat (a changed mtime of its file) into account."""
        beat = self._beat()
        if beat is not None and beat != self.beat_mtime:
            self.beat_mtime = beat
            self.seen = self.progressed = now
            self.row.ticks += 1

    def status(self, now: float) -> LoopStatus:
        """Its line of the status file at monotonic time now."""
        running = self.row.status == "running" and self.proc is not None  # None: never started
        beats = running and self.program.heartbeat is not None
        return LoopStatus(
            process=self.name,
            state=self.row.status,
            pid=self.proc.pid if running else None,
            ticks=self.row.ticks,
            restarts=self.row.restarts,
            heartbeat_age_s=now - self.seen if beats else None,
        )

    def stop(self, timeout_s: float, hurry: Any) -> None:
        """SIGTERM its group, wait up to timeout_s (less after a second signal) until no process
        of it is left, then SIGKILL the rest; record how it ended (killed if SIGKILL was due)."""
        proc, row = self.proc, self.row
        clean = proc.end_group(timeout_s, hurry)
        row.exit_code = proc.exitcode
        row.status = "stopped" if clean else "killed"

    def close(self) -> None:
        """Close its log."""
        if self._log_fd >= 0:
            os.close(self._log_fd)
            self._log_fd = -1

    def ended(self) -> str:
        """How its last run ended, in words."""
        return exit_text(self.proc.exitcode)
