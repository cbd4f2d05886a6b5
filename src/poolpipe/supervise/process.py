"""A supervised loop as the supervisor sees it: its process, its pipe, its row, its restarts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from poolpipe.supervise.child import DONE
from poolpipe.supervise.loops import Loop
from poolpipe.supervise.report import LoopRow


@dataclass
class LoopProcess:
    """A loop's current process, its end of the pipe, its row, and its restart bookkeeping."""

    loop: Loop
    row: LoopRow
    proc: Any = None
    conn: Connection | None = None
    seen: float = 0.0
    progressed: float = 0.0
    started: float = 0.0
    runs: int = 0
    streak: int = 0
    restart_at: float = 0.0
    why: str = ""
    done: bool = False

    @property
    def finished(self) -> bool:
        """Whether the loop has done all its ticks."""
        return self.loop.ticks is not None and self.row.ticks >= self.loop.ticks

    def drain(self) -> bool:
        """Read every waiting message; False once the pipe is closed."""
        assert self.conn is not None
        try:
            while self.conn.poll():
                kind, ticks = self.conn.recv()
                self.seen = time.monotonic()
                if ticks > self.row.ticks:
                    self.row.ticks, self.progressed = ticks, self.seen
                self.done = self.done or kind == DONE
        except (EOFError, OSError):
            return False
        return True
