"""Fetch one URL once: urllib3 under a deadline that can cut a live connection.

A Fetcher belongs to one thread and keeps that thread's connections (a urllib3 PoolManager,
keep-alive). Every attempt runs under a Guard: each socket the attempt opens or reuses is
registered with it, and Guard.cut(), called by the crawl's watchdog when the attempt's
deadline passes, shuts those sockets down. A blocked connect, read or TLS read then returns
at once, so a server that trickles a byte a second is cut off like one that never answers.
Names under the reserved .invalid domain (RFC 6761) are never looked up: they fail at once,
unless the settings send them to an address (the demo site).
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import os
import socket
import threading
import time
import urllib.robotparser
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urljoin

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    LocationValueError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Url, parse_url

from poolpipe.crawl.settings import CrawlSettings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 512 << 10
ROBOTS_MAX_REDIRECTS = 5
ROBOTS_HOSTS = 10_000
"""Hosts whose robots.txt verdict a process remembers (least recently used are forgotten)."""

READ_SIZE = 64 << 10
DETAIL_CHARS = 200

RETRYABLE_ERRORS = frozenset({"refused", "connect_timeout", "connection", "dns_temporary"})
"""Error kinds that are retried (with the statuses in CrawlSettings.retry_statuses)."""

_local = threading.local()
_ROBOTS_RETRY = urllib3.Retry(
    total=ROBOTS_MAX_REDIRECTS,
    connect=0,
    read=0,
    status=0,
    other=0,
    redirect=ROBOTS_MAX_REDIRECTS,
    raise_on_redirect=False,
    respect_retry_after_header=False,
)


class Cut(Exception):
    """The attempt's deadline passed while it was waiting on something other than a socket."""


class Resolver:
    """Host name to addresses: fixed entries first, .invalid never looked up, then the system."""

    def __init__(self, hosts: tuple[tuple[str, str], ...] = ()) -> None:
        self.fixed = {name.lower(): _host_port(addr) for name, addr in hosts}

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple]]:
        """(family, sockaddr) to try in order; socket.gaierror if the name is unknown."""
        name = host.strip("[]").rstrip(".").lower()
        if name in self.fixed:
            ip, fixed_port = self.fixed[name]
            return [(_family(ip), (ip, fixed_port))]
        if name == "invalid" or name.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, ".invalid names never resolve (RFC 6761)")
        with contextlib.suppress(ValueError):
            return [(_family(name), (name, port))]
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def _family(ip: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


class Guard:
    """The connections of one attempt, and the means to cut them all when its deadline passes.

    The guard keeps its own duplicate of each socket's descriptor: shutting that down ends the
    connection for every object that wraps it (a TLS socket made from it included), and since
    the guard owns the descriptor until the attempt ends, its number is never reused meanwhile.
    """

    __slots__ = ("_cut", "_done", "_lock", "_socks", "deadline", "resolver")

    def __init__(self, deadline: float, resolver: Resolver) -> None:
        self.deadline = deadline
        self.resolver = resolver
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._cut = False
        self._done = False

    @property
    def was_cut(self) -> bool:
        """Whether cut() ran before the attempt finished."""
        return self._cut

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def register(self, sock: socket.socket) -> None:
        """Watch a socket the attempt uses; shut it at once if the attempt is already cut."""
        try:
            own = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:
            return
        with self._lock:
            if self._done:
                own.close()
                return
            self._socks.append(own)
            if self._cut:
                _shut(own)

    def cut(self) -> None:
        """Shut down every socket of the attempt; later ones are shut as soon as they appear."""
        with self._lock:
            if self._done:
                return
            self._cut = True
            for sock in self._socks:
                _shut(sock)

    def finish(self) -> bool:
        """End the attempt, letting go of its descriptors; True if it was cut."""
        with self._lock:
            self._done = True
            for own in self._socks:
                own.close()
            self._socks.clear()
            return self._cut


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _guard() -> Guard | None:
    return getattr(_local, "guard", None)


def _register(sock: socket.socket | None) -> None:
    guard = _guard()
    if guard is not None and sock is not None:
        guard.register(sock)


def _open_socket(conn: HTTPConnection) -> socket.socket:
    """Resolve with the attempt's resolver and connect, the socket watched by its guard."""
    guard = _guard()
    resolver = guard.resolver if guard is not None else Resolver()
    try:
        addresses = resolver.resolve(conn._dns_host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: OSError = OSError("no address")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if guard is not None:
                guard.register(sock)
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            timeout = conn.timeout
            sock.settimeout(timeout if isinstance(timeout, int | float) else None)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(conn, f"connecting to {conn.host} timed out") from error
    raise NewConnectionError(conn, f"cannot connect to {conn.host}: {error}") from error


class _Watched:
    """Mixin for urllib3 connections: a new socket is opened under the running attempt's guard,
    a kept-alive one is handed to the guard of each attempt that reuses it."""

    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        return _open_socket(self)  # type: ignore[arg-type]

    def request(self, *args, **kwargs) -> None:
        _register(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: a response (status) or an error kind, and whether to retry."""

    status: int | None = None
    final_url: str = ""
    bytes: int = 0
    error: str = ""
    detail: str = ""
    retry_after: float | None = None
    retryable: bool = False


def error(kind: str, detail: str, final_url: str = "", status: int | None = None) -> Outcome:
    """An error outcome; retryable if its kind is."""
    text = " ".join(detail.split())
    if len(text) > DETAIL_CHARS:
        text = text[:DETAIL_CHARS] + "..."
    return Outcome(status, final_url, 0, kind, text, None, kind in RETRYABLE_ERRORS)


def check_url(url: str, schemes: tuple[str, ...]) -> tuple[Url | None, Outcome | None]:
    """Parse a URL; an error outcome if it is invalid or its scheme is not allowed."""
    try:
        parsed = parse_url(url)
    except (LocationValueError, ValueError) as exc:
        return None, error("invalid_url", str(exc))
    if not parsed.scheme:
        return None, error("invalid_url", "no scheme (http:// or https://)")
    if parsed.scheme not in schemes:
        return None, error("scheme", f"scheme {parsed.scheme!r} is not crawled")
    if not parsed.host:
        return None, error("invalid_url", "no host")
    return parsed, None


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return None


def classify(exc: BaseException) -> Outcome:
    """The error outcome of an exception raised while fetching."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, NameResolutionError):
        cause = exc.__cause__
        temporary = isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_AGAIN
        return error("dns_temporary" if temporary else "dns", f"unknown host: {cause or exc}")
    if isinstance(exc, NewConnectionError):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return error("refused", "connection refused")
        return error("connection", str(exc.__cause__ or exc))
    if isinstance(exc, ConnectTimeoutError):
        return error("connect_timeout", str(exc))
    if isinstance(exc, ReadTimeoutError):
        return error("read_timeout", "no data within the read timeout")
    if isinstance(exc, SSLError):
        return error("tls", str(exc))
    if isinstance(exc, ProtocolError | DecodeError):
        reason = exc.args[-1] if exc.args else exc
        if isinstance(reason, ConnectionResetError):
            return error("connection", "connection reset")
        return error("protocol", str(reason))
    if isinstance(exc, LocationValueError):
        return error("invalid_url", str(exc))
    if isinstance(exc, OSError):
        return error("connection", str(exc))
    return error("internal", f"{type(exc).__name__}: {exc}")


class TooLarge(Exception):
    """The body is over the size cap."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RobotsCache:
    """robots.txt verdicts per origin for one process, shared by its threads."""

    def __init__(self, user_agent: str, max_hosts: int = ROBOTS_HOSTS) -> None:
        self.agent = user_agent.split("/")[0].strip() or "*"
        self.max_hosts = max_hosts
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Robots] = OrderedDict()

    def entry(self, origin: str) -> tuple[_Robots, bool]:
        """The origin's entry, and whether the caller must fetch its robots.txt."""
        with self._lock:
            found = self._entries.get(origin)
            if found is not None:
                self._entries.move_to_end(origin)
                return found, False
            made = _Robots()
            self._entries[origin] = made
            if len(self._entries) > self.max_hosts:
                self._entries.popitem(last=False)
            return made, True

    def forget(self, origin: str, entry: _Robots) -> None:
        """Drop an entry whose robots.txt could not be fetched, so the next URL tries again."""
        with self._lock:
            if self._entries.get(origin) is entry:
                del self._entries[origin]


class _Robots:
    """One origin's robots.txt: a parser, or a blanket verdict with its reason."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.parser: urllib.robotparser.RobotFileParser | None = None
        self.allow_all = False
        self.reason = ""
        self.failed = False

    def allows(self, agent: str, url: str) -> bool:
        """Whether agent may fetch url."""
        if self.parser is not None:
            return self.parser.can_fetch(agent, url)
        return self.allow_all


class Fetcher:
    """One thread's fetcher: its own connections, the process's robots cache."""

    def __init__(self, settings: CrawlSettings, robots: RobotsCache | None = None) -> None:
        self.settings = settings
        self.resolver = Resolver(settings.hosts)
        self.robots = robots if robots is not None else RobotsCache(settings.user_agent)
        self.timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
        headers = urllib3.make_headers(accept_encoding=True, user_agent=settings.user_agent)
        self.pool = urllib3.PoolManager(
            num_pools=8,
            maxsize=1,
            retries=False,
            timeout=self.timeout,
            headers=headers,
            ca_certs=certifi.where(),
        )
        self.pool.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def close(self) -> None:
        """Close every kept connection."""
        self.pool.clear()

    def attempt(self, url: str, guard: Guard) -> Outcome:
        """Fetch url once under guard; never raises."""
        _local.guard = guard
        final = [url]
        try:
            outcome = self._fetch(url, guard, final)
        except TooLarge as exc:
            outcome = error("too_large", str(exc), final[0], exc.status)
        except Cut:
            outcome = error("deadline", "", final[0])
        except Exception as exc:
            outcome = classify(exc)
        finally:
            was_cut = guard.finish()
            _local.guard = None
        if was_cut:
            return error("deadline", f"cut off after {self.settings.deadline:g} s", final[0])
        return outcome if outcome.final_url else replace(outcome, final_url=final[0])

    def _fetch(self, url: str, guard: Guard, final: list[str]) -> Outcome:
        s = self.settings
        seen = {url}
        current = url
        for hop in range(s.max_redirects + 1):
            parsed, bad = check_url(current, s.schemes)
            if bad is not None:
                if hop:
                    return error(bad.error, f"redirected to {current!r}: {bad.detail}", current)
                return bad
            assert parsed is not None
            if s.robots:
                refused = self._robots_refusal(parsed, current, guard)
                if refused:
                    return error("robots", refused, current)
            response = self._get(parsed)
            try:
                location = response.headers.get("Location")
                if response.status in REDIRECT_STATUSES and location:
                    target = urljoin(current, _header_text(location))
                    _drain(response)
                    if target in seen:
                        return error(
                            "redirect_loop",
                            f"{current} redirects back to {target}",
                            target,
                            response.status,
                        )
                    seen.add(target)
                    current = final[0] = target
                    continue
                size = self._read_body(response, guard)
                return Outcome(
                    status=response.status,
                    final_url=current,
                    bytes=size,
                    retry_after=retry_after(response.headers.get("Retry-After")),
                    retryable=response.status in s.retry_statuses,
                )
            finally:
                response.release_conn()
        return error("too_many_redirects", f"more than {s.max_redirects} redirects", current)

    def _get(self, parsed: Url) -> urllib3.BaseHTTPResponse:
        """GET a parsed URL on this thread's pool for its host (no second parse of the URL)."""
        pool = self.pool.connection_from_host(parsed.host, parsed.port, parsed.scheme)
        return pool.urlopen(
            "GET",
            parsed.request_uri,
            headers=self.pool.headers,
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )

    def _read_body(self, response: urllib3.BaseHTTPResponse, guard: Guard) -> int:
        cap = self.settings.max_bytes
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > cap:
            response.close()
            raise TooLarge(
                f"Content-Length {int(length)} is over the cap of {cap} bytes", response.status
            )
        size = 0
        for block in response.stream(READ_SIZE, decode_content=True):
            size += len(block)
            if size > cap:
                response.close()
                raise TooLarge(f"body over the cap of {cap} bytes", response.status)
            if guard.was_cut:
                break
        return size

    def _robots_refusal(self, parsed: Url, url: str, guard: Guard) -> str:
        """Why robots.txt forbids url, or '' if it allows it."""
        origin = f"{parsed.scheme}://{parsed.netloc}"
        while True:
            entry, mine = self.robots.entry(origin)
            if mine:
                try:
                    self._load_robots(entry, origin + "/robots.txt", guard)
                except BaseException:
                    entry.failed = True
                    self.robots.forget(origin, entry)
                    raise
                finally:
                    entry.ready.set()
            elif not entry.ready.wait(guard.remaining()):
                raise Cut
            if not entry.failed:
                break
        if entry.allows(self.robots.agent, url):
            return ""
        return entry.reason or f"robots.txt of {parsed.host} disallows it"

    def _load_robots(self, entry: _Robots, url: str, guard: Guard) -> None:
        """Fetch and parse robots.txt as RFC 9309 says: 4xx allows all, 5xx disallows all.

        A failure to connect or read raises, as it would for the page itself: the URL gets
        that error (retried if it is retryable) and the next URL of the origin asks again.
        """
        response = self.pool.urlopen("GET", url, retries=_ROBOTS_RETRY, preload_content=False)
        try:
            status = response.status
            if 200 <= status < 300:
                body = _read_capped(response, ROBOTS_MAX_BYTES)
                if guard.was_cut:
                    raise Cut
                parser = urllib.robotparser.RobotFileParser()
                parser.parse(body.decode("utf-8", errors="replace").splitlines())
                entry.parser = parser
            elif 400 <= status < 500:
                entry.allow_all = True
            else:
                entry.reason = f"robots.txt unavailable: status {status}, so nothing is allowed"
        finally:
            response.release_conn()


def _read_capped(response: urllib3.BaseHTTPResponse, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for block in response.stream(READ_SIZE, decode_content=True):
        chunks.append(block[: cap - size])
        size += len(block)
        if size >= cap:
            response.close()
            break
    return b"".join(chunks)


def _drain(response: urllib3.BaseHTTPResponse, limit: int = READ_SIZE) -> None:
    """Read a short body so the connection can be kept; close it if the body is long."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= limit:
        response.drain_conn()
    else:
        response.close()


def _header_text(value: str) -> str:
    """A header as sent: http.client decodes latin-1, servers mostly mean UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def new_fetcher_factory(settings: CrawlSettings) -> Callable[[], Fetcher]:
    """Make fetchers that share one robots cache (one per process)."""
    robots = RobotsCache(settings.user_agent)
    return lambda: Fetcher(settings, robots)
