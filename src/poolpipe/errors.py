"""Errors a user can cause, each one sentence that says what to fix, and how each ends a run.

    Exception
     ├── PoolpipeError          a problem with the input or settings: exit 1, one sentence
     │    ├── WorkerDied        a pool worker died (killed, out of memory): names its task
     │    └── PathError         a task path that may not be used inside the tasks' root
     └── Stopped                SIGTERM, SIGINT or SIGHUP stopped the run: exit 128 + the signal

run_guarded is the one place that turns them into a message on stderr and an exit code, for
the `poolpipe` command and for every Snakemake job alike; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable


class PoolpipeError(Exception):
    """A problem with the input or settings, reported as one sentence, never a traceback."""


class WorkerDied(PoolpipeError):
    """A pool worker died (killed, out of memory) while it ran a task."""


class PathError(PoolpipeError):
    """A task path that may not be used, and why, in one sentence."""


class Stopped(Exception):
    """The run was stopped by a signal; the process exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}"


def run_guarded(action: Callable[[], int], prog: str = "poolpipe") -> int:
    """Run action; turn a user's error into one sentence on stderr and a stop into 128 + signal."""
    try:
        return action()
    except PoolpipeError as exc:
        _say(f"{prog}: error: {exc}")
        return 1
    except Stopped as exc:
        _say(f"{prog}: {exc}")
        return 128 + exc.signum
    except KeyboardInterrupt:  # Ctrl-C outside a pool's run: as a Stopped of SIGINT says it
        _say(f"{prog}: {Stopped(signal.SIGINT)}")
        return 128 + signal.SIGINT


def _say(line: str) -> None:
    """A line on stderr, if it can still be written: after a hang-up (SIGHUP) stderr may be the
    closed terminal, and the exit status is then all that is left to say it."""
    with contextlib.suppress(OSError):
        print(line.translate(_LINE_BREAKS), file=sys.stderr)


_LINE_BREAKS = {
    ord(c): c.encode("unicode_escape").decode() for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
}
"""What would break a sentence over lines (a file name may hold a newline), as its escape."""
