"""robots.txt verdicts, one per origin, remembered by a process and shared by its threads,
and, through a folder of answers, by the other processes of the same job: a job asks each
host for its robots.txt once, however many processes its pool runs."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import os
import threading
import time
import urllib.robotparser
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

ROBOTS_HOSTS = 10_000
"""Hosts whose robots.txt verdict a process remembers (least recently used are forgotten)."""


class RobotsEntry:
    """One origin's robots.txt: a parser, or a blanket verdict with its reason."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.parser: urllib.robotparser.RobotFileParser | None = None
        self.allow_all = False
        self.reason = ""
        self.failed = False
        self.delays: list[tuple[tuple[str, ...], float]] = []
        self.answer: tuple[int, bytes] | None = None

    def settle(self, status: int, body: bytes) -> None:
        """Take robots.txt's answer as RFC 9309 says: 2xx is parsed, 5xx disallows all, anything
        else (4xx, a redirect not followed to its end) is unavailable, which allows all."""
        self.answer = (status, body)
        if 200 <= status < 300:
            parser = urllib.robotparser.RobotFileParser()
            lines = body.decode("utf-8", errors="replace").splitlines()
            parser.parse(lines)
            self.parser = parser
            self.delays = crawl_delays(lines)
        elif status < 500:
            self.allow_all = True
        else:
            self.reason = f"robots.txt unavailable: status {status}, so nothing is allowed"

    def crawl_delay(self, agent: str) -> float | None:
        """The Crawl-delay robots.txt asks of agent, in seconds, if it asks one: the group
        naming the agent first, else the `*` group (as RobotFileParser picks groups)."""
        name = agent.split("/")[0].lower()
        named = [d for agents, d in self.delays if any(a != "*" and a in name for a in agents)]
        if named:
            return named[0]
        return next((d for agents, d in self.delays if "*" in agents), None)

    def allows(self, agent: str, url: str) -> bool:
        """Whether agent may fetch url."""
        if self.parser is not None:
            return self.parser.can_fetch(agent, url)
        return self.allow_all


class RobotsCache:
    """robots.txt verdicts per origin for one process, shared by its threads."""

    def __init__(
        self, user_agent: str, max_hosts: int = ROBOTS_HOSTS, shared: str | None = None
    ) -> None:
        self.agent = user_agent.split("/")[0].strip() or "*"
        self.max_hosts = max_hosts
        self.shared = Path(shared) if shared else None
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, RobotsEntry] = OrderedDict()

    def entry(self, origin: str) -> tuple[RobotsEntry, bool]:
        """The origin's entry, and whether the caller must fetch its robots.txt."""
        with self._lock:
            found = self._entries.get(origin)
            if found is not None:
                self._entries.move_to_end(origin)
                return found, False
            made = RobotsEntry()
            self._entries[origin] = made
            if len(self._entries) > self.max_hosts:
                self._entries.popitem(last=False)
            return made, True

    def settle_once(
        self, origin: str, entry: RobotsEntry, fetch: Callable[[], None], timeout: float
    ) -> None:
        """Settle entry with the answer another process of the job already got, or fetch()
        it while holding the origin's lock, and leave the answer for the others.

        The lock is flock on a file per origin in the shared folder; one that stays held past
        timeout seconds raises TimeoutError. A fetch that raises leaves no answer, so the next
        process (or URL) asks again, as within one process.
        """
        if self.shared is None:
            fetch()
            return
        name = hashlib.sha256(origin.encode()).hexdigest()[:32]
        answer = self.shared / f"{name}.answer"
        fd = os.open(
            self.shared / f"{name}.lock",
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        try:
            _lock(fd, timeout)
            kept = _read_answer(answer)
            if kept is not None:
                entry.settle(*kept)
                return
            fetch()
            if entry.answer is not None:
                _write_answer(answer, *entry.answer)
        finally:
            os.close(fd)  # also releases the lock

    def forget(self, origin: str, entry: RobotsEntry) -> None:
        """Drop an entry whose robots.txt could not be fetched, so the next URL tries again."""
        with self._lock:
            if self._entries.get(origin) is entry:
                del self._entries[origin]


def crawl_delays(lines: list[str]) -> list[tuple[tuple[str, ...], float]]:
    """Each group's user agents and its Crawl-delay (decimal seconds; the standard library's
    parser takes whole seconds only), for the groups that give one."""
    found: list[tuple[tuple[str, ...], float]] = []
    agents: list[str] = []
    in_agents = False
    for raw in lines:
        key, _, value = raw.split("#", 1)[0].partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if not in_agents:
                agents = []
            agents.append(value.split("/")[0].lower())
            in_agents = True
        elif key:
            in_agents = False
            if key == "crawl-delay" and agents:
                try:
                    delay = float(value)
                except ValueError:
                    continue
                if math.isfinite(delay) and delay >= 0:
                    found.append((tuple(agents), delay))
    return found


def _lock(fd: int, timeout: float) -> None:
    """Take the exclusive lock on fd, polling (flock cannot wait with a timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError("robots.txt lock held too long") from None
            time.sleep(0.01)


def _read_answer(path: Path) -> tuple[int, bytes] | None:
    """An answer another process left: its status line and robots.txt's body, or None."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    status, _, body = data.partition(b"\n")
    return int(status), body


def _write_answer(path: Path, status: int, body: bytes) -> None:
    """Leave an answer for the job's other processes (written whole, then renamed)."""
    part = path.with_suffix(f".{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        with open(part, "xb") as fh:
            fh.write(b"%d\n" % status + body)
        os.replace(part, path)
