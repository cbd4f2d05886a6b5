"""The hard deadline of one fetch attempt: a Guard that can cut its live connections.

Every attempt runs under a Guard: each socket the attempt opens or reuses is registered with
it, and Guard.cut(), called by the crawl's watchdog when the attempt's deadline passes, shuts
those sockets down. A blocked connect, read or TLS read then returns at once, so a server
that trickles a byte a second is cut off like one that never answers. The urllib3 connection
pools in WATCHED_POOLS open and reuse their sockets under the running attempt's guard, and
look names up with its Resolver: names under the reserved .invalid domain (RFC 6761) are
never looked up, they fail at once, unless the settings send them to an address (the demo
site).

The guard also keeps a redirect from steering the crawler into the machine's own networks
(Guard.internal): once an attempt has been at a public address, every address it would
connect to next, or that a kept-alive connection is already at, is checked, and an internal
one raises InternalAddress before a byte is sent. Within one attempt only a redirect (of the
page or of its robots.txt) leads to another address, so this is the rule "no redirect from
public to internal". The check is on the address itself, after the name is looked up, so no
name, decimal spelling or DNS answer gets round it; a URL that is internal from its first
hop (the demo site) is fetched.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

_local = threading.local()


class Cut(Exception):
    """The attempt's deadline passed while it was waiting on something other than a socket."""


class InternalAddress(Exception):
    """A redirect from a public address led to an address in the internal networks."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=4096)
def is_internal(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    """Whether an IP address (IPv4-mapped IPv6 read as its IPv4) is in one of networks."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


class Resolver:
    """Host name to addresses: fixed entries first, .invalid never looked up, then the system."""

    def __init__(self, hosts: tuple[tuple[str, str], ...] = ()) -> None:
        self.fixed = {name.lower(): _host_port(addr) for name, addr in hosts}

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple]]:
        """(family, sockaddr) to try in order; socket.gaierror if the name is unknown."""
        known = self.known(host, port)
        if known is not None:
            return known
        name = host.strip("[]").rstrip(".").lower()
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        return [(family, sockaddr) for family, _, _, _, sockaddr in infos]

    def known(self, host: str, port: int) -> list[tuple[int, tuple]] | None:
        """resolve()'s answer when it needs no lookup (a fixed name, an address, a name under
        .invalid); None when the system resolver must be asked."""
        name = host.strip("[]").rstrip(".").lower()
        if name in self.fixed:
            ip, fixed_port = self.fixed[name]
            return [(_family(ip), (ip, fixed_port))]
        if name == "invalid" or name.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, ".invalid names never resolve (RFC 6761)")
        with contextlib.suppress(ValueError):
            return [(_family(name), (name, port))]
        return None


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

    __slots__ = ("_cut", "_done", "_lock", "_socks", "deadline", "internal", "public", "resolver")

    def __init__(
        self, deadline: float, resolver: Resolver, internal: tuple[IPNetwork, ...] = ()
    ) -> None:
        self.deadline = deadline
        self.resolver = resolver
        self.internal = internal
        """The networks the attempt may not enter once it has been at a public address."""
        self.public = ""
        """The first public address the attempt was at ('' while none)."""
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._cut = False
        self._done = False

    @property
    def was_cut(self) -> bool:
        """Whether cut() ran before the attempt finished."""
        return self._cut

    def allows(self, address: str) -> bool:
        """Whether the attempt may connect to address: not internal once it has been public."""
        return not (self.public and self.internal and is_internal(address, self.internal))

    def visit(self, address: str) -> None:
        """The attempt is at address now."""
        if self.internal and not self.public and not is_internal(address, self.internal):
            self.public = address

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


@contextlib.contextmanager
def guarding(guard: Guard) -> Iterator[Guard]:
    """Make guard the running attempt's guard on this thread while the block runs."""
    _local.guard = guard
    try:
        yield guard
    finally:
        _local.guard = None


def _guard() -> Guard | None:
    return getattr(_local, "guard", None)


def _register(sock: socket.socket | None) -> None:
    guard = _guard()
    if guard is not None and sock is not None:
        guard.register(sock)


def _check_peer(sock: socket.socket, host: str) -> None:
    """Note the address a connection is at; refuse it if the guard forbids it."""
    guard = _guard()
    if guard is None or not guard.internal:
        return
    try:
        peer = sock.getpeername()[0]
    except (OSError, IndexError, TypeError):
        return
    if not guard.allows(peer):
        raise InternalAddress(internal_reason(host, peer))
    guard.visit(peer)


def internal_reason(host: str, address: str) -> str:
    """Why a connection to host at address is refused."""
    if host.strip("[]") == address:
        return f"{address} is an internal address"
    return f"{host} is at {address}, an internal address"


def reused_connection() -> bool:
    """Whether this thread's last request went out on a connection that had served one before."""
    return getattr(_local, "reused", False)


def _open_socket(conn: HTTPConnection) -> socket.socket:
    """Resolve with the attempt's resolver and connect, the socket watched by its guard."""
    guard = _guard()
    resolver = guard.resolver if guard is not None else Resolver()
    try:
        addresses = resolver.resolve(conn.host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: OSError = OSError("no address")
    refused = ""
    for family, sockaddr in addresses:
        if guard is not None and not guard.allows(sockaddr[0]):
            refused = refused or sockaddr[0]
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if guard is not None:
                guard.register(sock)
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            timeout = conn.timeout
            sock.settimeout(timeout if isinstance(timeout, int | float) else None)
            sock.connect(sockaddr)
            if guard is not None:
                guard.visit(sockaddr[0])
            conn.poolpipe_requests = 0  # type: ignore[attr-defined]
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    if refused:
        raise InternalAddress(internal_reason(conn.host, refused))
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
        # poolpipe_requests counts the requests of the current socket (_open_socket resets it)
        sock = self.sock
        _local.reused = sock is not None and getattr(self, "poolpipe_requests", 0) > 0
        if sock is not None:
            _check_peer(sock, self.host)  # type: ignore[attr-defined]
        _register(sock)
        try:
            super().request(*args, **kwargs)  # type: ignore[misc]
        finally:
            self.poolpipe_requests = getattr(self, "poolpipe_requests", 0) + 1


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


WATCHED_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}
"""urllib3 pool classes by scheme whose connections are watched by the running guard."""
