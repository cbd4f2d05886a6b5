"""A canary for the tests: count the files renamed into a folder, by name, with inotify."""

from __future__ import annotations

import ctypes
import os
import struct
from collections import Counter
from pathlib import Path

IN_MOVED_TO = 0x80
IN_Q_OVERFLOW = 0x4000
_EVENT = struct.Struct("iIII")


class Renames:
    """Every rename into a folder (how an atomic write lands), counted by the name it lands as."""

    def __init__(self, folder: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, os.fsencode(folder), IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.counts: Counter[str] = Counter()

    def drain(self) -> Counter[str]:
        """Read the events so far (call it often: the kernel's queue is bounded)."""
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return self.counts
            at = 0
            while at < len(data):
                _, mask, _, size = _EVENT.unpack_from(data, at)
                name = data[at + _EVENT.size : at + _EVENT.size + size].rstrip(b"\0")
                at += _EVENT.size + size
                assert not mask & IN_Q_OVERFLOW, "inotify's queue overflowed: counts are lost"
                if mask & IN_MOVED_TO:
                    self.counts[os.fsdecode(name)] += 1

    def close(self) -> None:
        """Stop watching."""
        os.close(self.fd)
