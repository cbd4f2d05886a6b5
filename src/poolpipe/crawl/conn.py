"""One worker process's HTTP connections on its asyncio loop: opened under an attempt's Guard,
kept alive between attempts, read with a read timeout.

A Conn is an asyncio Protocol that only buffers: the fetch coroutine parses what it holds
(poolpipe.crawl.wire) and waits for more with fill(). Reading pauses while the buffer holds
more than HIGH_WATER bytes, so a fast server cannot fill memory ahead of the reader.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
from collections import deque
from functools import partial

import certifi

from poolpipe.crawl.guard import Guard, InternalAddress, internal_reason

HIGH_WATER = 256 << 10
IDLE_PER_ORIGIN = 256
"""Kept-alive connections a process holds per origin; more are closed after their answer."""


@functools.cache
def ca_bundle() -> str:
    """certifi's CA bundle: the file beside its module where it is one, as certifi.where()
    finds it too, but without importlib.resources (3-4 ms in each crawl worker otherwise)."""
    path = os.path.join(os.path.dirname(certifi.__file__), "cacert.pem")
    return path if os.path.isfile(path) else certifi.where()


class ReadTimeout(Exception):
    """No data within the read timeout."""


class ConnectTimeout(Exception):
    """No connection within the connect timeout."""


class ConnectFailed(Exception):
    """The connection could not be made (the OSError is its cause)."""


class Conn(asyncio.Protocol):
    """A connection's bytes as they come, and whether the server has closed it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, peer: str) -> None:
        self.loop = loop
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.closed = False
        self.error: BaseException | None = None
        self.requests = 0
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def fill(self, timeout: float) -> None:
        """Wait until more bytes come or the server closes; ReadTimeout after timeout s."""
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        if self.closed:
            return
        self._waiter = waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def send(self, data: bytes) -> None:
        """Write a request."""
        assert self.transport is not None
        self.requests += 1
        self.transport.write(data)

    def usable(self) -> bool:
        """Whether a kept-alive connection can carry a request: open, nothing unasked in it."""
        return not self.closed and not self.buf and self.transport is not None

    def close(self) -> None:
        """Drop the connection at once."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout())


class Connections:
    """The process's kept-alive connections by origin, and the opening of new ones."""

    def __init__(self, *, connect_timeout: float, limit: int = IDLE_PER_ORIGIN) -> None:
        self.connect_timeout = connect_timeout
        self.limit = limit
        self._idle: dict[tuple[str, str, int], deque[Conn]] = {}
        self._tls: ssl.SSLContext | None = None

    def take(self, key: tuple[str, str, int]) -> Conn | None:
        """A kept-alive connection to the origin, if one is still usable."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    def give(self, key: tuple[str, str, int], conn: Conn) -> None:
        """Keep a connection whose answer was read to its end for the next request."""
        idle = self._idle.setdefault(key, deque())
        if len(idle) >= self.limit or not conn.usable():
            conn.close()
        else:
            idle.append(conn)

    def close(self) -> None:
        """Close every kept connection."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    async def open(
        self, key: tuple[str, str, int], addresses: list[tuple[int, tuple]], guard: Guard
    ) -> Conn:
        """Connect to the first address that answers (and TLS for https), never to one the
        guard forbids."""
        scheme, host, _ = key
        loop = asyncio.get_running_loop()
        refused = ""
        failure: BaseException | None = None
        for family, sockaddr in addresses:
            if not guard.allows(sockaddr[0]):
                refused = refused or sockaddr[0]
                continue
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await loop.sock_connect(sock, sockaddr)
            except TimeoutError:
                sock.close()
                failure = ConnectTimeout(f"connecting to {host} timed out")
                continue
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            except BaseException:
                sock.close()
                raise
            guard.visit(sockaddr[0])
            tls = self._context() if scheme == "https" else None
            name = host.strip("[]") if tls is not None else None
            try:
                _, conn = await loop.create_connection(
                    partial(Conn, loop, sockaddr[0]),
                    sock=sock,
                    ssl=tls,
                    server_hostname=name,
                    ssl_handshake_timeout=self.connect_timeout if tls is not None else None,
                )
            except BaseException:
                sock.close()
                raise
            return conn
        if refused:
            raise InternalAddress(internal_reason(host, refused))
        if isinstance(failure, ConnectTimeout):
            raise failure
        raise ConnectFailed(f"cannot connect to {host}: {failure}") from failure

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=ca_bundle())
        return self._tls
