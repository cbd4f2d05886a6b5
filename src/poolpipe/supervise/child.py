"""A worker loop's own process: it ticks, sends heartbeats, and stops on the stop message."""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection

from poolpipe.core.pool import init_child
from poolpipe.supervise.loops import Loop

STOP = "stop"
BEAT = "beat"
DONE = "done"


def run_loop(loop: Loop, conn: Connection, *, start: int, first: bool, beat_s: float) -> int:
    """A worker loop: tick every interval, heartbeat, stop on the stop message; its tick count.

    On its first run a loop with fail_at_tick exits with code 1 at that tick, and one with
    stall_at_tick stops ticking there but goes on sending heartbeats (alive, no progress)."""
    ticks = start
    next_tick = time.monotonic() + loop.interval_s
    stall = loop.stall_at_tick if first else None
    while True:
        due = (loop.ticks is None or ticks < loop.ticks) and (stall is None or ticks < stall)
        wait_s = min(next_tick - time.monotonic(), beat_s) if due else beat_s
        if conn.poll(max(0.0, wait_s)):
            if conn.recv() == STOP:
                conn.send((DONE, ticks))
                return ticks
            continue
        now = time.monotonic()
        if due and now >= next_tick:
            if first and loop.fail_at_tick == ticks + 1:
                os._exit(1)
            ticks += 1
            next_tick = max(next_tick + loop.interval_s, now)
        conn.send((BEAT, ticks))


def child_main(
    loop: Loop, conn: Connection, start: int, first: bool, beat_s: float, parent: int
) -> None:
    """The target of a loop's process."""
    init_child(parent)
    try:
        run_loop(loop, conn, start=start, first=first, beat_s=beat_s)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        os._exit(1)
    finally:
        conn.close()
