"""A supervisor of named worker loops (the article's render, logic and network loops).

Each loop runs in its own process and talks to the supervisor over its own
multiprocessing.Pipe: it sends a heartbeat with its tick count at every tick (and
while idle), and stops when it receives the stop message. The supervisor runs the
loops for a set time, until every loop has done its ticks, or until SIGINT/SIGTERM;
then it stops them one by one in their configured order, joining each, so no
child and no zombie is left (a second signal meanwhile kills the rest at once). Waiting
for the stop message is a loop's sleep, so a stop is seen within one wait.

A loop that dies, stops sending heartbeats (hung), or sends them while its tick count
stands still for stall_timeout_s past its next tick (stalled) is killed if need be,
reported and, if asked, restarted from the tick it had reached, after an exponential
backoff with jitter (state `backoff`). At most max_restarts restarts follow one another;
a loop that then runs restart_window_s without failing has its count and its backoff
reset, as supervisord's startretries and startsecs do. With a status path, a status file
shows every loop's state, ticks, restarts and heartbeat age, replaced once a second; a
status file that cannot be written is said once and the loops run on.

Real programs (poolpipe.supervise.program) are supervised beside the loops the same way:
the same restarts and backoff, a heartbeat file for stalls, and the same ordered stop, each
of their process groups in turn; what left its program's group is stopped last and named
(poolpipe.supervise.escaped).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import wait

from poolpipe.core.outputs import refuse_overlap
from poolpipe.core.pool import StopOnSignals, exit_text, join_all, kill_all, signals_held
from poolpipe.core.timing import Backoff
from poolpipe.errors import PoolpipeError, Stopped
from poolpipe.supervise.escaped import Escaped, subreaper
from poolpipe.supervise.loops import Loop, SupervisorSettings, schema_section
from poolpipe.supervise.process import LoopProcess, child_main
from poolpipe.supervise.program import Program, ProgramProcess, program_log
from poolpipe.supervise.report import LoopRow, SupervisedRun, write_status

WAKE_S = 0.1
"""The supervisor's longest sleep: how soon it notices a signal, a deadline or a hung loop."""
STATUS_S = 1.0
"""How often the status file is replaced."""
_log = logging.getLogger(__name__)


def most_supervised() -> int:
    """How many loops and programs one supervisor runs at most (the schema's limit)."""
    return int(schema_section()["workers"]["maxItems"])


def check_supervised(loops: Sequence[Loop], programs: Sequence[Program]) -> None:
    """One sentence for what would stop a supervisor of these before it starts: none, too many,
    a name used twice, a heartbeat file in a missing folder, that is a folder or that is another
    program's (by path, link or inode)."""
    names = [loop.name for loop in loops] + [p.name for p in programs]
    if not names:
        raise PoolpipeError("the supervisor needs at least one worker loop or program")
    if len(names) > most_supervised():
        raise PoolpipeError(
            f"the supervisor runs at most {most_supervised()} loops and programs, not {len(names)}"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PoolpipeError(f"worker loop or program name {dupes[0]!r} is used twice")
    for p in programs:
        folder = os.path.dirname(p.heartbeat or "") or "."
        if p.heartbeat and not os.path.isdir(folder):
            # else the program could never beat, and would only be killed as stalled
            raise PoolpipeError(
                f"program {p.name!r}: the folder of its heartbeat file {p.heartbeat!r} "
                "does not exist"
            )
        if p.heartbeat and os.path.isdir(p.heartbeat):  # a folder's mtime is no heartbeat
            raise PoolpipeError(
                f"program {p.name!r}: its heartbeat file {p.heartbeat!r} is a folder"
            )
    # one file beaten by two programs would show each alive while either is
    refuse_overlap(inputs={}, outputs={f"heartbeat of {p.name!r}": p.heartbeat for p in programs})


class Supervisor:
    """Start, watch, restart and stop a set of worker loops and programs."""

    def __init__(
        self,
        loops: Sequence[Loop],
        settings: SupervisorSettings,
        status: str | None = None,
        programs: Sequence[Program] = (),
        log_dir: str = ".",
    ) -> None:
        check_supervised(loops, programs)
        self.settings = settings
        self.workers: list[LoopProcess | ProgramProcess] = [
            LoopProcess(loop=loop, row=LoopRow(process=loop.name)) for loop in loops
        ]
        self.workers += [
            ProgramProcess(
                program=p,
                row=LoopRow(process=p.name, kind="program"),
                log_path=program_log(log_dir, p.name),
            )
            for p in programs
        ]
        self._status_failed = False
        self._ctx = mp.get_context("fork")
        self._beat_s = min(settings.heartbeat_timeout_s, settings.stall_timeout_s) / 5
        self._backoff = Backoff(
            base_s=settings.restart_backoff_s,
            max_s=settings.restart_backoff_max_s,
            jitter=settings.restart_jitter,
        )
        self._status = status
        self._status_due = 0.0
        self._escaped = Escaped(self._own)
        self.escaped: list[str] = []
        self._hurry: StopOnSignals | None = None
        """The watch's signals: a wait for an ended program's leftovers ends on one."""

    def _own(self) -> set[int]:
        """The pids of the loops' and programs' current processes."""
        return {w.proc.pid for w in self.workers if w.proc is not None}

    def run(self) -> SupervisedRun:
        """Run until the duration passes, every loop is done, or a signal; then stop all."""
        began = time.monotonic()
        deadline = None if self.settings.duration_s is None else began + self.settings.duration_s
        stopped: int | None = None
        with subreaper(), StopOnSignals(deferred=True) as signals:
            try:
                for worker in self.workers:
                    signals.check()
                    self._start(worker)
                self._watch(deadline, signals)
            except Stopped as exc:
                stopped = exc.signum
                _log.info("stopped by %s", signal.Signals(exc.signum).name)
            finally:
                self.stop()
                self._write_status(force=True)
                for worker in self.workers:
                    if isinstance(worker, ProgramProcess):
                        worker.close()
        rows = [w.row for w in self.workers]
        wall_s = time.monotonic() - began
        return SupervisedRun(rows=rows, signal=stopped, wall_s=wall_s, escaped=self.escaped)

    def _start(self, worker: LoopProcess | ProgramProcess) -> None:
        if isinstance(worker, ProgramProcess):
            worker.start()
            self._started(worker)
            return
        ours, theirs = self._ctx.Pipe()
        first = worker.runs == 0
        args = (worker.loop, theirs, worker.row.ticks, first, self._beat_s, os.getpid())
        proc = self._ctx.Process(target=child_main, args=args, name=f"poolpipe-{worker.loop.name}")
        with signals_held():
            proc.start()
        theirs.close()
        worker.proc, worker.conn = proc, ours
        self._started(worker)

    def _started(self, worker: LoopProcess | ProgramProcess) -> None:
        worker.seen = worker.progressed = worker.started = time.monotonic()
        worker.runs += 1
        worker.row.status = "running"
        what = "ticks" if isinstance(worker, LoopProcess) else "heartbeats"
        _log.info(
            "started %s (pid %d) at %d %s", worker.name, worker.proc.pid, worker.row.ticks, what
        )

    def _in(self, state: str) -> list[LoopProcess | ProgramProcess]:
        return [w for w in self.workers if w.proc is not None and w.row.status == state]

    def _watch(self, deadline: float | None, signals: StopOnSignals) -> None:
        self._hurry = signals
        while True:
            signals.check()
            live, waiting = self._in("running"), self._in("backoff")
            if not waiting and (not live or all(w.finished for w in live)):
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            due = [WAKE_S] + [w.restart_at - now for w in waiting]
            timeout = min(due) if deadline is None else min(*due, deadline - now)
            handles = [w.conn for w in live if w.conn is not None]
            handles += [w.proc.sentinel for w in live]
            wait(handles, timeout=max(0.0, timeout))
            signals.check()
            for worker in live:
                self._look_at(worker)
            self._escaped.reap()  # no zombie piles up
            for worker in waiting:
                if time.monotonic() >= worker.restart_at:
                    self._start(worker)
            self._write_status()

    def _look_at(self, worker: LoopProcess | ProgramProcess) -> None:
        """Act on a running loop that died, hung or stalled; reset its restarts if it ran well."""
        if isinstance(worker, ProgramProcess):
            self._look_at_program(worker)
            return
        open_ = worker.drain()
        now = time.monotonic()
        if worker.proc.exitcode is not None or not open_:
            worker.proc.join(timeout=1.0)
            if worker.proc.exitcode is None:
                worker.proc.kill()
                worker.proc.join()
            self._lost(worker, "died", f"died with {exit_text(worker.proc.exitcode)}")
        elif now - worker.seen > self.settings.heartbeat_timeout_s:
            self._kill(worker)
            self._lost(worker, "hung", "sent no heartbeat and was killed")
        elif not worker.finished and now - worker.progressed > self._stall_after(worker):
            self._kill(worker)
            self._lost(worker, "stalled", "sent heartbeats but no tick advanced, and was killed")
        else:
            self._ran_well(worker, now)

    def _ran_well(self, worker: LoopProcess | ProgramProcess, now: float) -> None:
        if worker.streak and now - worker.started >= self.settings.restart_window_s:
            _log.info(
                "%s ran well for %g s: its restart count is reset",
                worker.name,
                self.settings.restart_window_s,
            )
            worker.streak = 0

    def _look_at_program(self, worker: ProgramProcess) -> None:
        """Act on a program that ended (finished with status 0, else died) or whose heartbeat
        file went stale (stalled); its group is ended either way."""
        now = time.monotonic()
        worker.look(now)
        code = worker.proc.exitcode
        if code is not None:
            self._end_rest(worker)
        if code == 0:
            worker.row.exit_code, worker.row.status = 0, "finished"
            _log.info("program %s (pid %d) finished", worker.name, worker.proc.pid)
        elif code is not None:
            self._lost(worker, "died", f"died with {exit_text(code)}")
        elif (
            worker.program.heartbeat is not None
            and now - worker.seen > self.settings.heartbeat_timeout_s
        ):
            worker.proc.end_group()
            self._lost(worker, "stalled", "did not refresh its heartbeat file and was killed")
        else:
            self._ran_well(worker, now)

    def _end_rest(self, worker: ProgramProcess) -> None:
        """Stop what an ended program left of its group as a stop would, SIGTERM first.

        The watch waits meanwhile, at most stop_timeout_s: a restart must not start beside the
        old run's last processes (a port still held). A signal ends the wait (what is left is
        SIGKILLed) and the stop begins."""
        if not worker.proc.end_group(self.settings.stop_timeout_s, self._hurry):
            _log.warning(
                "what program %s left of its process group outlived SIGTERM by %g s and was killed",
                worker.name,
                self.settings.stop_timeout_s,
            )

    def _stall_after(self, worker: LoopProcess) -> float:
        """Seconds without a new tick before a loop counts as stalled."""
        return worker.loop.interval_s + self.settings.stall_timeout_s

    @staticmethod
    def _kill(worker: LoopProcess) -> None:
        worker.proc.kill()
        worker.proc.join()

    def _lost(self, worker: LoopProcess | ProgramProcess, why: str, what: str) -> None:
        """Report a loop that ended on its own; schedule its restart if allowed."""
        if isinstance(worker, LoopProcess):
            assert worker.conn is not None
            worker.drain()
            worker.conn.close()
        row = worker.row
        row.exit_code = worker.proc.exitcode
        counted = "ticks" if isinstance(worker, LoopProcess) else "heartbeats"
        _log.warning(
            "process %s (pid %d) %s after %d %s",
            row.process,
            worker.proc.pid,
            what,
            row.ticks,
            counted,
        )
        limit = self.settings.max_restarts
        if self.settings.restart and worker.streak < limit:
            worker.streak += 1
            row.restarts += 1
            delay = self._backoff.delay(worker.streak)
            _log.info(
                "restarting %s (%d of %d) in %.2f s", row.process, worker.streak, limit, delay
            )
            worker.restart_at = time.monotonic() + delay
            row.status = "backoff"
        else:
            row.status = why
            if self.settings.restart:
                _log.warning("%s is not restarted again: restart limit reached", row.process)

    def _write_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._status is None or (now < self._status_due and not force):
            return
        self._status_due = now + STATUS_S
        try:
            write_status(self._status, [w.status(now) for w in self.workers])
        except (PoolpipeError, OSError) as exc:
            # the status file is for watching; the loops matter more, so they run on
            if not self._status_failed:
                _log.warning("the status file is not kept up to date: %s", exc)
            self._status_failed = True

    def stop(self) -> None:
        """Stop the running loops in order (stop message, then SIGKILL), and the programs
        (SIGTERM, then SIGKILL); join each."""
        with StopOnSignals(deferred=True) as hurry:
            for worker in self.workers:
                if worker.proc is None:
                    continue
                if worker.row.status == "running":
                    worker.stop(self.settings.stop_timeout_s, hurry)
                elif worker.row.status == "backoff":
                    # waiting to be restarted, within its restarts: the stop ends it as it
                    # ends a running one (its last exit code stays), not as one died for good
                    worker.row.status = "stopped"
                worker.proc.join()
            self.escaped = self._escaped.stop(self.settings.stop_timeout_s, hurry)
        if self.escaped:
            n = len(self.escaped)
            _log.warning(
                "stopped %s that had left %s program's process group: %s",
                f"{n} process" if n == 1 else f"{n} processes",
                "its" if n == 1 else "their",
                ", ".join(self.escaped),
            )
        loops = [w.proc for w in self.workers if isinstance(w, LoopProcess) and w.proc]
        kill_all(loops)
        join_all(loops)


def supervise(
    loops: Sequence[Loop],
    settings: SupervisorSettings,
    *,
    status: str | None = None,
    programs: Sequence[Program] = (),
    log_dir: str = ".",
) -> SupervisedRun:
    """Run the loops and programs under a supervisor until it stops (see the module's
    docstring); with status, keep a status file there, replaced once a second; each program's
    output is appended to log_dir/NAME.log."""
    return Supervisor(loops, settings, status, programs, log_dir).run()
