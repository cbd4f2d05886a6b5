"""Fetch one URL once on the worker's asyncio loop, following redirects itself: the same
attempt as fetch.Fetcher's, in a coroutine instead of a thread.

Its rows match the threaded fetcher's for the same answers (poolpipe.crawl.wire reads HTTP by
the same rules). The deadline is the engine's: when it passes, the engine cuts the attempt's
Guard and cancels its task, which ends any wait on a socket at once. robots.txt is read by the
threaded fetcher in a helper thread (once per origin and process; its verdicts are then
checked here without leaving the loop), so its rules and its cross-process store stay one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import BinaryIO

from urllib3.util import Url

from poolpipe.crawl.conn import (
    Conn,
    ConnectFailed,
    Connections,
    ConnectTimeout,
    ReadTimeout,
    ca_bundle,
)
from poolpipe.crawl.fetch import (
    NOWHERE,
    READ_SIZE,
    REDIRECT_STATUSES,
    SPOOL_BYTES,
    Fetcher,
    FetchOutcome,
    SpoolFull,
    TooLarge,
    check_declared,
    check_url,
    classify_error,
    conditions,
    error,
    follow,
    hop_refusal,
    page_outcome,
    too_many_redirects,
)
from poolpipe.crawl.guard import Cut, Guard, InternalAddress, Resolver, internal_reason
from poolpipe.crawl.kinds import ErrorKind
from poolpipe.crawl.previous import Previous
from poolpipe.crawl.robots import RobotsCache
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.wire import (
    ACCEPT_ENCODING,
    HEAD_END,
    MAX_HEAD,
    MAX_LINE,
    BadLength,
    Chunks,
    Decoder,
    Head,
    WireError,
    body_length,
    keeps_alive,
    parse_head,
    request,
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Closed(Exception):
    """The server closed the connection before any byte of an answer."""


class _Unanswered(Exception):
    """The deadline passed in a call that cannot be cut (a name lookup)."""


class AsyncFetcher:
    """A worker's fetcher on its loop: its connections, the process's robots cache."""

    def __init__(
        self,
        settings: CrawlSettings,
        robots: RobotsCache,
        *,
        resolver: Resolver,
        crawl_delay: Callable[[str, float], None] | None = None,
        sending: Callable[[str], None] | None = None,
        spool_dir: str | None = None,
    ) -> None:
        self.settings = settings
        self.sending = sending
        """Called with the host just before each request goes out."""
        self.robots = robots
        self.resolver = resolver
        self.spool_dir = spool_dir
        self.conns = Connections(connect_timeout=settings.connect_timeout)
        self.headers = {
            "User-Agent": settings.user_agent,
            "Accept-Encoding": ACCEPT_ENCODING,
            "Accept": "*/*",
        }
        self._local = threading.local()
        self._sync: list[Fetcher] = []
        self._reading: dict[str, asyncio.Future[str]] = {}
        self._make_sync = lambda: Fetcher(settings, robots, crawl_delay, spool_dir=spool_dir)
        # the CA bundle's path, found once a process: here, before the loop runs, not in the
        # first robots.txt thread beside a busy loop (where certifi.where() took 6-11 ms)
        ca_bundle()

    def close(self) -> None:
        """Close every kept connection."""
        self.conns.close()
        for fetcher in self._sync:
            fetcher.close()

    async def attempt(
        self, url: str, guard: Guard, previous: Previous | None = None, parsed: Url | None = None
    ) -> FetchOutcome:
        """Fetch url once under guard, conditionally if an earlier crawl saw it; raises only
        CancelledError, and only when the task was cancelled without its guard being cut."""
        final = [url]
        try:
            outcome = await self._fetch(url, parsed, guard, final, previous)
        except asyncio.CancelledError:
            if not guard.was_cut:
                raise
            outcome = self._cut(final[0])
        except Cut:
            outcome = self._cut(final[0])
        except _Unanswered:
            detail = f"no answer within {self.settings.deadline:g} s"
            outcome = error(ErrorKind.DEADLINE, detail, final_url=final[0])
        except TooLarge as exc:
            outcome = error(ErrorKind.TOO_LARGE, str(exc), final_url=final[0], status=exc.status)
        except InternalAddress as exc:
            detail = f"redirected from {guard.public} to {final[0]}: {exc}"
            outcome = error(ErrorKind.INTERNAL_REDIRECT, detail, final_url=final[0])
        except SpoolFull as exc:
            return FetchOutcome(final_url=final[0], fatal=exc.error)
        except Exception as exc:
            outcome = classify(exc)
        finally:
            guard.finish()
        return outcome if outcome.final_url else replace(outcome, final_url=final[0])

    def _cut(self, url: str) -> FetchOutcome:
        return error(
            ErrorKind.DEADLINE, f"cut off after {self.settings.deadline:g} s", final_url=url
        )

    async def _fetch(
        self,
        url: str,
        parsed: Url | None,
        guard: Guard,
        final: list[str],
        previous: Previous | None,
    ) -> FetchOutcome:
        s = self.settings
        seen = {url}
        current = url
        for hop in range(s.max_redirects + 1):
            if hop or parsed is None:
                parsed, bad = check_url(current, s.schemes)
                if bad is not None:
                    return hop_refusal(bad, hop, current)
            assert parsed is not None
            if s.robots:
                refused = await self._robots_refusal(parsed, current, guard)
                if refused:
                    return error(ErrorKind.ROBOTS, refused, final_url=current)
            head, length, conn, key = await self._get(parsed, conditions(previous, current), guard)
            location = head.get("location")
            if head.status in REDIRECT_STATUSES and location:
                await self._skip(conn, key, head, length)
                target = follow(current, location, head.status, seen)
                if isinstance(target, FetchOutcome):
                    return target
                current = final[0] = target
                parsed = None
                continue
            size, digest, body = await self._read_body(conn, key, head, length)
            return page_outcome(
                s, current, head.status, head.reason, head, size=size, digest=digest, body=body
            )
        return too_many_redirects(s, current)

    async def _robots_refusal(self, parsed: Url, url: str, guard: Guard) -> str:
        """Why robots.txt forbids url, or ''; an origin not yet read is read in a thread (one
        read per origin at a time in this process: the other attempts wait for it, and open
        their connection meanwhile)."""
        origin = f"{parsed.scheme}://{parsed.netloc}"
        ahead = False
        while True:
            entry = self.robots.settled(origin)
            if entry is not None:
                if entry.allows(self.robots.agent, url):
                    return ""
                return entry.reason or f"robots.txt of {parsed.host} disallows it"
            reading = self._reading.get(origin)
            if reading is None:
                break
            if not ahead:
                ahead = True
                await self._connect_ahead(parsed, guard)
                continue
            # shielded: this attempt's deadline ends its own wait, not the read it waits for
            with contextlib.suppress(Exception):
                await asyncio.shield(reading)
        reading = in_thread(self._robots_in_thread, parsed, url, guard)
        self._reading[origin] = reading
        reading.add_done_callback(lambda _: self._reading.pop(origin, None))
        if not ahead:
            await self._connect_ahead(parsed, guard)
        return await asyncio.shield(reading)

    async def _connect_ahead(self, parsed: Url, guard: Guard) -> None:
        """While robots.txt is read, open the connection the request will take: a connection
        asks nothing of a site, and the requests then go out as soon as the rules are known.
        A connection that fails is left for the request itself to open (and fail) again."""
        key = _origin_key(parsed)
        with contextlib.suppress(Exception):
            self.conns.give(key, await self._open(key, guard))

    def _robots_in_thread(self, parsed: Url, url: str, guard: Guard) -> str:
        fetcher = getattr(self._local, "fetcher", None)
        if fetcher is None:
            fetcher = self._local.fetcher = self._make_sync()
            self._sync.append(fetcher)
        return fetcher.robots_refusal(parsed, url, guard)

    async def _get(
        self, parsed: Url, extra: dict[str, str] | None, guard: Guard
    ) -> tuple[Head, int | None, Conn, tuple[str, str, int]]:
        """Send a GET and read the answer's head: the head, its body's framing, the connection.

        A kept-alive connection the server closed meanwhile (as a server does at its
        keep-alive timeout, often without a `Connection: close`) ends the request before any
        answer comes; the request is sent again once on a new connection, as browsers do,
        rather than counted as a failed attempt.
        """
        key = _origin_key(parsed)
        scheme, host, port = key
        shown = host if parsed.port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
        headers = {**self.headers, **extra} if extra else self.headers
        data = request(parsed.request_uri, shown, headers)
        for again in (False, True):
            # the second try opens a new connection: another kept-alive one in the pool may
            # have been closed by the server at the same moment as the first
            conn = None if again else self.conns.take(key)
            reused = conn is not None
            if conn is None:
                conn = await self._open(key, guard)
            elif not guard.allows(conn.peer):
                self.conns.give(key, conn)
                raise InternalAddress(internal_reason(host, conn.peer))
            else:
                guard.visit(conn.peer)
            if self.sending is not None:
                self.sending(host)
            conn.send(data)
            try:
                head = await self._read_head(conn)
                return head, body_length(head), conn, key
            except _Closed:
                conn.close()
                if again or not reused:
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")

    async def _open(self, key: tuple[str, str, int], guard: Guard) -> Conn:
        _, host, port = key
        addresses = self.resolver.known(host, port)
        if addresses is None:
            try:
                addresses = await in_thread(self.resolver.resolve, host, port)
            except asyncio.CancelledError:
                # the lookup goes on in its thread; the attempt is written off
                if guard.was_cut:
                    raise _Unanswered from None
                raise
        return await self.conns.open(key, addresses, guard)

    async def _read_head(self, conn: Conn) -> Head:
        timeout = self.settings.read_timeout
        while True:
            end = HEAD_END.search(conn.buf)
            if end is not None:
                data = bytes(conn.buf[: end.start()])
                del conn.buf[: end.end()]
                head = parse_head(data)
                if 100 <= head.status < 200 and head.status != 101:
                    continue  # an interim answer (100 Continue): the real one follows
                return head
            if len(conn.buf) > MAX_HEAD:
                raise WireError(f"got more than {MAX_LINE} bytes when reading header line")
            if conn.closed:
                if not conn.buf:
                    raise _Closed
                raise WireError("connection closed in the middle of the answer's head")
            await conn.fill(timeout)

    async def _skip(
        self, conn: Conn, key: tuple[str, str, int], head: Head, length: int | None
    ) -> None:
        """Read a short body so the connection can be kept; close it if the body is long."""
        timeout = self.settings.read_timeout
        if length is None or length < 0 or length > READ_SIZE or not keeps_alive(head):
            conn.close()
            return
        while len(conn.buf) < length and not conn.closed:
            await conn.fill(timeout)
        if len(conn.buf) < length:
            conn.close()
            return
        del conn.buf[:length]
        self.conns.give(key, conn)

    async def _read_body(
        self, conn: Conn, key: tuple[str, str, int], head: Head, length: int | None
    ) -> tuple[int, str, BinaryIO]:
        """The body's size and SHA-256 (hex), and the body itself (a file) if the WARC store
        keeps it: past SPOOL_BYTES it goes to a temporary file, so a job holds at most
        SPOOL_BYTES per row in memory, whatever the size cap."""
        s = self.settings
        cap = s.max_bytes
        try:
            check_declared(head.get("content-length"), cap, head.status)
        except TooLarge:
            conn.close()
            raise
        keep = s.store == "warc"
        kept = (
            tempfile.SpooledTemporaryFile(SPOOL_BYTES, dir=self.spool_dir)  # noqa: SIM115
            if keep
            else NOWHERE
        )
        sink = _Sink(cap, head.status, kept, Decoder(head.get("content-encoding")))
        done = False
        try:
            await self._frame(conn, length, sink)
            done = True
        except BaseException:
            kept.close()
            raise
        finally:
            # after a 101 the connection speaks another protocol: never reused
            if done and length is not None and keeps_alive(head) and head.status != 101:
                self.conns.give(key, conn)
            else:
                conn.close()
        return sink.size, sink.digest.hexdigest(), kept

    async def _frame(self, conn: Conn, length: int | None, sink: _Sink) -> None:
        """Hand the body's bytes to sink as its framing says, up to its end."""
        timeout = self.settings.read_timeout
        buf = conn.buf
        if length is not None and length >= 0:
            left = length
            while left:
                if buf:
                    take = min(left, len(buf))
                    sink.take(bytes(buf[:take]) if take < len(buf) else bytes(buf))
                    del buf[:take]
                    left -= take
                    continue
                if conn.closed:
                    _broken(conn)
                    got = length - left
                    raise WireError(f"IncompleteRead({got} bytes read, {left} more expected)")
                await conn.fill(timeout)
        elif length is not None:
            chunks = Chunks()
            while True:
                for block in chunks.feed(buf)[0]:
                    sink.take(block)
                if chunks.done:
                    return
                if conn.closed:
                    _broken(conn)
                    raise WireError("Response ended prematurely")
                await conn.fill(timeout)
        else:
            while True:
                if buf:
                    sink.take(bytes(buf))
                    buf.clear()
                if conn.closed:
                    return
                await conn.fill(timeout)


def _origin_key(parsed: Url) -> tuple[str, str, int]:
    """The (scheme, host, port) that a URL's connections are kept under."""
    scheme = parsed.scheme or "http"
    return scheme, parsed.host or "", parsed.port or _DEFAULT_PORTS.get(scheme, 80)


def _broken(conn: Conn) -> None:
    """A reset in the middle of a body is a connection error (retried), as with urllib3; a
    clean close there is a protocol error."""
    if isinstance(conn.error, ConnectionResetError):
        raise conn.error


class _Sink:
    """A body's bytes as they come: decoded, counted against the cap, hashed, kept."""

    __slots__ = ("cap", "decoder", "digest", "kept", "size", "status")

    def __init__(self, cap: int, status: int, kept: BinaryIO, decoder: Decoder) -> None:
        self.cap = cap
        self.status = status
        self.kept = kept
        self.decoder = decoder
        self.size = 0
        self.digest = hashlib.sha256()

    def take(self, data: bytes) -> None:
        """Count, hash and keep one block of the body as it came over the wire."""
        if self.decoder.identity:
            self._add(data)
            return
        for block in self.decoder.feed(data, READ_SIZE):
            self._add(block)

    def _add(self, block: bytes) -> None:
        self.size += len(block)
        if self.size > self.cap:
            raise TooLarge(f"body over the cap of {self.cap} bytes", self.status)
        self.digest.update(block)
        if self.kept is not NOWHERE:
            try:
                self.kept.write(block)
            except OSError as exc:
                raise SpoolFull(exc) from exc


def classify(exc: BaseException) -> FetchOutcome:
    """The error outcome of an exception raised while fetching on the loop."""
    if isinstance(exc, socket.gaierror):
        temporary = exc.errno == socket.EAI_AGAIN
        return error(
            ErrorKind.DNS_TEMPORARY if temporary else ErrorKind.DNS, f"unknown host: {exc}"
        )
    if isinstance(exc, ConnectFailed):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return error(ErrorKind.REFUSED, "connection refused")
        return error(ErrorKind.CONNECTION, str(exc))
    if isinstance(exc, ConnectTimeout):
        return error(ErrorKind.CONNECT_TIMEOUT, str(exc))
    if isinstance(exc, ReadTimeout):
        return error(ErrorKind.READ_TIMEOUT, "no data within the read timeout")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return error(ErrorKind.TLS, str(exc))
    if isinstance(exc, _Closed | ConnectionResetError):
        return error(ErrorKind.CONNECTION, "connection reset")
    if isinstance(exc, WireError):
        return error(ErrorKind.PROTOCOL, str(exc))
    if isinstance(exc, BadLength):
        return error(ErrorKind.BAD_RESPONSE, str(exc))
    if isinstance(exc, UnicodeEncodeError):
        return error(ErrorKind.INVALID_URL, f"cannot be sent: {exc}")
    return classify_error(exc)


def in_thread(call: Callable[..., str | list], *args: object) -> asyncio.Future:
    """Run a blocking call in a thread of its own; its result as a future of the running loop.

    The thread is a daemon: a call that never returns (a name lookup cannot be cut) holds no
    exit up. Its answer after the loop has closed is dropped.
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result: object, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, exc = call(*args), None
        except BaseException as caught:  # handed to the loop, which raises it in the caller
            result, exc = None, caught
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=run, name="crawl-helper", daemon=True).start()
    return future
