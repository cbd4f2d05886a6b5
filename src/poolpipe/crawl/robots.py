"""robots.txt verdicts, one per origin, remembered by a process and shared by its threads;
the answers themselves shared by the processes of a job through a folder (RobotsStore), so
that a job asks each host for its robots.txt once, however many processes and pieces it has.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import math
import os
import threading
import time
import urllib.robotparser
from collections import OrderedDict
from collections.abc import Callable, Iterator
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

    def settle(self, status: int, body: bytes) -> None:
        """Take robots.txt's answer as RFC 9309 says: 2xx is parsed, 5xx disallows all, anything
        else (4xx, a redirect not followed to its end) is unavailable, which allows all."""
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


LOCK_POLL_S = 0.02
"""How often a process waiting for another one's robots.txt fetch looks again."""


class RobotsStore:
    """robots.txt answers of one job, a file per origin in a folder of the job's own.

    The first process that needs an origin's answer locks the origin's file (flock), fetches
    robots.txt and writes the answer there for the others, which wait on the lock and read
    it. An answer that could not be fetched (a connection error) is not stored: the next URL
    asks again, as within one process. A file cut short by a kill reads as no answer.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    @contextlib.contextmanager
    def claim(
        self, origin: str, remaining: Callable[[], float]
    ) -> Iterator[tuple[tuple[int, bytes] | None, Callable[[int, bytes], None]]]:
        """Hold the origin's lock while the block runs; the answer stored already (if any),
        and a function that stores one.

        Waits at most remaining() seconds for the lock; TimeoutError past that.
        """
        self.folder.mkdir(exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.folder / f"{_file_name(origin)}.json", flags, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    left = remaining()
                    if left <= 0:
                        why = f"robots.txt of {origin} is still being fetched"
                        raise TimeoutError(why) from None
                    time.sleep(min(LOCK_POLL_S, left))

            def save(status: int, body: bytes) -> None:
                doc = {"origin": origin, "status": status, "body": base64.b64encode(body).decode()}
                data = json.dumps(doc).encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)

            yield _answer(fd, origin), save
        finally:
            os.close(fd)


def _answer(fd: int, origin: str) -> tuple[int, bytes] | None:
    """The answer in an origin's locked file; None if it has none (or half of one)."""
    try:
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        doc = json.loads(data)
        if doc["origin"] != origin:
            return None
        return int(doc["status"]), base64.b64decode(doc["body"], validate=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _file_name(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class RobotsCache:
    """robots.txt verdicts per origin for one process, shared by its threads."""

    def __init__(
        self,
        user_agent: str,
        max_hosts: int = ROBOTS_HOSTS,
        store: RobotsStore | None = None,
    ) -> None:
        self.agent = user_agent.split("/")[0].strip() or "*"
        self.max_hosts = max_hosts
        self.store = store
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

    def settled(self, origin: str) -> RobotsEntry | None:
        """The origin's entry if its robots.txt has been read (None if it has not, or is
        being read now)."""
        with self._lock:
            found = self._entries.get(origin)
            if found is None or not found.ready.is_set() or found.failed:
                return None
            self._entries.move_to_end(origin)
            return found

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
