"""Fetch one URL once with urllib3, under the attempt's Guard, following redirects itself.

A Fetcher belongs to one thread and keeps that thread's connections (a urllib3 PoolManager,
keep-alive, its pools those of guard.WATCHED_POOLS), with the process's robots.txt cache.
Whatever happens, an attempt ends in a FetchOutcome: a status, or an ErrorKind with a detail,
and whether to retry.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import io
import re
import socket
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import BinaryIO, Protocol
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HeaderParsingError,
    InvalidHeader,
    LocationValueError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import Url, parse_url

from poolpipe.crawl.conn import ca_bundle
from poolpipe.crawl.guard import (
    WATCHED_POOLS,
    Cut,
    Guard,
    InternalAddress,
    guarding,
    reused_connection,
)
from poolpipe.crawl.kinds import RETRYABLE_ERRORS, ErrorKind
from poolpipe.crawl.previous import VALIDATOR_CHARS, Previous
from poolpipe.crawl.robots import RobotsCache, RobotsEntry
from poolpipe.crawl.rows import Exchange
from poolpipe.crawl.settings import CrawlSettings

SPOOL_BYTES = 1 << 20
"""With the WARC store, the most of a body held in memory; the rest waits in a temporary file
(beside the job's WARC file)."""
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 512 << 10
ROBOTS_MAX_REDIRECTS = 5
READ_SIZE = 64 << 10
DETAIL_CHARS = 200
LENGTH_DIGITS = 18
"""A Content-Length with more digits than this is over any cap: it is not converted."""

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


@dataclass(frozen=True, kw_only=True)
class FetchOutcome:
    """What one attempt gave: a response (status) or an error kind, and whether to retry."""

    status: int | None = None
    final_url: str = ""
    bytes: int = 0
    error: str = ""
    detail: str = ""
    retry_after: float | None = None
    retryable: bool = False
    content_type: str = ""
    sha256: str = ""
    etag: str = ""
    last_modified: str = ""
    record: Exchange | None = None
    fatal: OSError | None = None
    """A failure of this machine, not of the URL (the WARC spool's disk is full): the job
    stops with it."""


def error(
    kind: ErrorKind, detail: str, *, final_url: str = "", status: int | None = None
) -> FetchOutcome:
    """An error outcome; retryable if its kind is."""
    text = " ".join(detail.split())
    if len(text) > DETAIL_CHARS:
        text = text[:DETAIL_CHARS] + "..."
    return FetchOutcome(
        status=status,
        final_url=final_url,
        error=kind,
        detail=text,
        retryable=kind in RETRYABLE_ERRORS,
    )


def check_url(url: str, schemes: tuple[str, ...]) -> tuple[Url | None, FetchOutcome | None]:
    """Parse a URL; an error outcome if it is invalid or its scheme is not allowed."""
    odd = next((c for c in url if not c.isprintable()), None)
    if odd is not None:  # a NUL, a byte-order mark: sent as is, a server gets a broken line
        name = unicodedata.name(odd, f"U+{ord(odd):04X}")
        return None, error(ErrorKind.INVALID_URL, f"it holds {odd!r} ({name}), which no URL may")
    parsed = _plain_url(url)
    if parsed is None:
        try:
            parsed = parse_url(url)
        except (LocationValueError, ValueError) as exc:
            return None, error(ErrorKind.INVALID_URL, _port_problem(url) or str(exc))
    if not parsed.scheme:
        return None, error(ErrorKind.INVALID_URL, "no scheme (http:// or https://)")
    if parsed.scheme not in schemes:
        return None, error(ErrorKind.SCHEME, f"scheme {parsed.scheme!r} is not crawled")
    if not parsed.host:
        return None, error(ErrorKind.INVALID_URL, "no host")
    return parsed, None


_PORT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?:\[[^\]]*\]|[^/?#:\[]*):([^/?#]*)")


def _port_problem(url: str) -> str:
    """What is wrong with a URL's port, where its port is what parse_url refused."""
    match = _PORT.match(url)
    if match is None:
        return ""
    port = match[1]
    if not port.isascii() or not port.isdigit():
        return f"port {port!r} is not a number"
    if int(port) > 65535:
        return f"port {int(port)} is over 65535"
    return ""


# a URL that parse_url would leave as it is: lower-case scheme and host, a port, a path and a
# query of characters that need no encoding, no '%', fragment, user or dot segment
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([0-9]{1,5}))?"
    r"(/[A-Za-z0-9/_~!$&'()*+,;=:@.-]*)?(?:\?([A-Za-z0-9/_~!$&'()*+,;=:@.?-]*))?"
)


def _plain_url(url: str) -> Url | None:
    """parse_url's answer for a plain URL, found without its general parser (the hot path of
    a crawl); None for any other URL."""
    match = _PLAIN_URL.fullmatch(url)
    if match is None:
        return None
    scheme, host, port, path, query = match.groups()
    if (path is None and query is not None) or (path is not None and "/." in path):
        return None
    number = int(port) if port else None
    if number is not None and number > 65535:
        return None
    return Url(scheme=scheme, host=host, port=number, path=path, query=query)


def hop_refusal(bad: FetchOutcome, hop: int, url: str) -> FetchOutcome:
    """A URL check's error outcome; after a redirect, one that says where it led."""
    if hop:
        detail = f"redirected to {url!r}: {bad.detail}"
        return error(ErrorKind(bad.error), detail, final_url=url)
    return bad


def follow(current: str, location: str, status: int, seen: set[str]) -> str | FetchOutcome:
    """Where a redirect from current leads (added to seen), or the error outcome when its
    Location is not a URL or leads back to a URL the attempt has been at."""
    target = join_location(current, location)
    if target is None:
        detail = f"status {status} with a Location that is not a URL: {location!r}"
        return error(ErrorKind.BAD_RESPONSE, detail, final_url=current, status=status)
    if target in seen:
        detail = f"{current} redirects back to {target}"
        return error(ErrorKind.REDIRECT_LOOP, detail, final_url=target, status=status)
    seen.add(target)
    return target


def too_many_redirects(settings: CrawlSettings, url: str) -> FetchOutcome:
    """The outcome of an attempt still redirected after max_redirects hops."""
    detail = f"more than {settings.max_redirects} redirects"
    return error(ErrorKind.TOO_MANY_REDIRECTS, detail, final_url=url)


class HeaderLookup(Protocol):
    """Headers as both fetchers read them: get() by any case of the name, items() in order."""

    def get(self, name: str) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


def page_outcome(
    settings: CrawlSettings,
    url: str,
    status: int,
    reason: str,
    headers: HeaderLookup,
    *,
    size: int,
    digest: str,
    body: BinaryIO,
) -> FetchOutcome:
    """The outcome of an answer read to its end (with its WARC record if the store keeps
    one)."""
    record = None
    if settings.store == "warc":
        record = Exchange(
            url=url,
            status=status,
            reason=reason,
            headers=tuple(headers.items()),
            body=body,
            size=size,
            date=warc_date(),
        )
    return FetchOutcome(
        status=status,
        final_url=url,
        bytes=size,
        retry_after=retry_after(headers.get("Retry-After")),
        retryable=status in settings.retry_statuses,
        content_type=validator(headers.get("Content-Type")),
        sha256=digest,
        etag=validator(headers.get("ETag")),
        last_modified=validator(headers.get("Last-Modified")),
        record=record,
    )


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return None


def declared_length(value: str | None) -> int | None:
    """The size a Content-Length header declares; None unless it is ASCII digits (a longer
    number than LENGTH_DIGITS digits reads as 10**LENGTH_DIGITS, over any cap)."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    text = text.lstrip("0") or "0"
    return int(text) if len(text) <= LENGTH_DIGITS else 10**LENGTH_DIGITS


def check_declared(value: str | None, cap: int, status: int) -> None:
    """TooLarge if a Content-Length header declares a body over the cap."""
    length = declared_length(value)
    if length is not None and length > cap:
        shown = f"{length}" if length < 10**LENGTH_DIGITS else f"of over {LENGTH_DIGITS} digits"
        raise TooLarge(f"Content-Length {shown} is over the cap of {cap} bytes", status)


def classify_error(exc: BaseException) -> FetchOutcome:
    """The error outcome of an exception raised while fetching."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, NameResolutionError):
        cause = exc.__cause__
        temporary = isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_AGAIN
        kind = ErrorKind.DNS_TEMPORARY if temporary else ErrorKind.DNS
        return error(kind, f"unknown host: {cause or exc}")
    if isinstance(exc, NewConnectionError):
        if isinstance(exc.__cause__, ConnectionRefusedError):
            return error(ErrorKind.REFUSED, "connection refused")
        return error(ErrorKind.CONNECTION, str(exc.__cause__ or exc))
    if isinstance(exc, ConnectTimeoutError):
        return error(ErrorKind.CONNECT_TIMEOUT, str(exc))
    if isinstance(exc, ReadTimeoutError):
        return error(ErrorKind.READ_TIMEOUT, "no data within the read timeout")
    if isinstance(exc, SSLError):
        return error(ErrorKind.TLS, str(exc))
    if isinstance(exc, ProtocolError | DecodeError):
        reason = exc.args[-1] if exc.args else exc
        if isinstance(reason, ConnectionResetError):
            return error(ErrorKind.CONNECTION, "connection reset")
        return error(ErrorKind.PROTOCOL, str(reason))
    if isinstance(exc, InvalidHeader | HeaderParsingError):
        return error(ErrorKind.BAD_RESPONSE, str(exc))
    if isinstance(exc, http.client.HTTPException):
        return error(ErrorKind.PROTOCOL, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, LocationValueError):
        return error(ErrorKind.INVALID_URL, str(exc))
    if isinstance(exc, OSError):
        return error(ErrorKind.CONNECTION, str(exc))
    return error(ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}")


class TooLarge(Exception):
    """The body is over the size cap."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SpoolFull(Exception):
    """A body could not be spooled for the WARC store: the disk is full or over a limit."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class Fetcher:
    """One thread's fetcher: its own connections, the process's robots cache."""

    def __init__(
        self,
        settings: CrawlSettings,
        robots: RobotsCache | None = None,
        crawl_delay: Callable[[str, float], None] | None = None,
        spool_dir: str | None = None,
    ) -> None:
        self.settings = settings
        self.spool_dir = spool_dir
        self.crawl_delay = crawl_delay
        self.robots = robots if robots is not None else RobotsCache(settings.user_agent)
        self.timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
        headers = urllib3.make_headers(accept_encoding=True, user_agent=settings.user_agent)
        self.pool = urllib3.PoolManager(
            num_pools=8,
            maxsize=1,
            retries=False,
            timeout=self.timeout,
            headers=headers,
            ca_certs=ca_bundle(),
        )
        self.pool.pool_classes_by_scheme = dict(WATCHED_POOLS)

    def close(self) -> None:
        """Close every kept connection."""
        self.pool.clear()

    def attempt(self, url: str, guard: Guard, previous: Previous | None = None) -> FetchOutcome:
        """Fetch url once under guard, conditionally if an earlier crawl saw it; never raises."""
        final = [url]
        with guarding(guard):
            try:
                outcome = self._fetch(url, guard, final, previous)
            except TooLarge as exc:
                outcome = error(
                    ErrorKind.TOO_LARGE, str(exc), final_url=final[0], status=exc.status
                )
            except Cut:
                outcome = error(ErrorKind.DEADLINE, "", final_url=final[0])
            except InternalAddress as exc:
                detail = f"redirected from {guard.public} to {final[0]}: {exc}"
                outcome = error(ErrorKind.INTERNAL_REDIRECT, detail, final_url=final[0])
            except SpoolFull as exc:
                return FetchOutcome(final_url=final[0], fatal=exc.error)
            except Exception as exc:
                outcome = classify_error(exc)
            finally:
                was_cut = guard.finish()
        if was_cut:
            detail = f"cut off after {self.settings.deadline:g} s"
            return error(ErrorKind.DEADLINE, detail, final_url=final[0])
        return outcome if outcome.final_url else replace(outcome, final_url=final[0])

    def _fetch(
        self, url: str, guard: Guard, final: list[str], previous: Previous | None
    ) -> FetchOutcome:
        s = self.settings
        seen = {url}
        current = url
        for hop in range(s.max_redirects + 1):
            parsed, bad = check_url(current, s.schemes)
            if bad is not None:
                return hop_refusal(bad, hop, current)
            assert parsed is not None
            if s.robots:
                refused = self._robots_refusal(parsed, current, guard)
                if refused:
                    return error(ErrorKind.ROBOTS, refused, final_url=current)
            response = self._get(parsed, conditions(previous, current))
            try:
                location = response.headers.get("Location")
                if response.status in REDIRECT_STATUSES and location:
                    _drain(response)
                    target = follow(current, location, response.status, seen)
                    if isinstance(target, FetchOutcome):
                        return target
                    current = final[0] = target
                    continue
                size, digest, body = self._read_body(response, guard)
                return page_outcome(
                    s, current, response.status, response.reason or "", response.headers,
                    size=size, digest=digest, body=body,
                )  # fmt: skip
            except ValueError as exc:
                response.close()
                detail = f"status {response.status} with a header that cannot be read: {exc}"
                return error(
                    ErrorKind.BAD_RESPONSE, detail, final_url=current, status=response.status
                )
            finally:
                response.release_conn()
        return too_many_redirects(s, current)

    def _get(self, parsed: Url, extra: dict[str, str] | None) -> urllib3.BaseHTTPResponse:
        """GET a parsed URL on this thread's pool for its host (no second parse of the URL).

        A kept-alive connection the server closed meanwhile (as a server does at its
        keep-alive timeout, often without a `Connection: close`) ends the request before any
        answer comes; the request is sent again once on a new connection, as browsers do,
        rather than counted as a failed attempt.
        """
        pool = self.pool.connection_from_host(parsed.host, parsed.port, parsed.scheme)
        for again in (False, True):
            try:
                return pool.urlopen(
                    "GET",
                    parsed.request_uri,
                    headers={**self.pool.headers, **extra} if extra else self.pool.headers,
                    redirect=False,
                    retries=False,
                    assert_same_host=False,
                    preload_content=False,
                )
            except ProtocolError as exc:
                if again or not (reused_connection() and _closed_unanswered(exc)):
                    raise
        raise AssertionError("unreachable")

    def _read_body(
        self, response: urllib3.BaseHTTPResponse, guard: Guard
    ) -> tuple[int, str, BinaryIO]:
        """The body's size and SHA-256 (hex), and the body itself (a file) if the WARC store
        keeps it: past SPOOL_BYTES it goes to a temporary file, so a job holds at most
        SPOOL_BYTES per row in memory, whatever the size cap."""
        cap = self.settings.max_bytes
        keep = self.settings.store == "warc"
        try:
            check_declared(response.headers.get("Content-Length"), cap, response.status)
        except TooLarge:
            response.close()
            raise
        size = 0
        digest = hashlib.sha256()
        kept = (
            tempfile.SpooledTemporaryFile(SPOOL_BYTES, dir=self.spool_dir)  # noqa: SIM115
            if keep
            else NOWHERE
        )
        try:
            for block in response.stream(READ_SIZE, decode_content=True):
                size += len(block)
                if size > cap:
                    response.close()
                    raise TooLarge(f"body over the cap of {cap} bytes", response.status)
                digest.update(block)
                try:
                    kept.write(block)
                except OSError as exc:
                    raise SpoolFull(exc) from exc
                if guard.was_cut:
                    break
        except BaseException:
            kept.close()
            raise
        return size, digest.hexdigest(), kept

    def robots_refusal(self, parsed: Url, url: str, guard: Guard) -> str:
        """Why robots.txt forbids url, or '' (for another engine's attempt under guard, run in
        this thread); raises as an attempt would (Cut, urllib3's errors)."""
        with guarding(guard):
            return self._robots_refusal(parsed, url, guard)

    def _robots_refusal(self, parsed: Url, url: str, guard: Guard) -> str:
        """Why robots.txt forbids url, or '' if it allows it."""
        origin = f"{parsed.scheme}://{parsed.netloc}"
        while True:
            entry, mine = self.robots.entry(origin)
            if mine:
                try:
                    self._settle_robots(entry, origin, guard)
                    delay = entry.crawl_delay(self.robots.agent)
                    if delay and self.crawl_delay is not None:
                        self.crawl_delay(parsed.host or "", delay)
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

    def _settle_robots(self, entry: RobotsEntry, origin: str, guard: Guard) -> None:
        """Settle the entry with the job's stored answer for origin, or fetch and store it."""
        store = self.robots.store
        if store is None:
            entry.settle(*self._load_robots(origin + "/robots.txt", guard))
            return
        try:
            with store.claim(origin, guard.remaining) as (found, save):
                if found is None:
                    found = self._load_robots(origin + "/robots.txt", guard)
                    save(*found)
        except TimeoutError:
            raise Cut from None
        entry.settle(*found)

    def _load_robots(self, url: str, guard: Guard) -> tuple[int, bytes]:
        """Fetch robots.txt: its status and (for a 2xx) its body.

        A failure to connect or read raises, as it would for the page itself: the URL gets
        that error (retried if it is retryable) and the next URL of the origin asks again.
        A redirect to something that cannot be fetched (file:, not a URL, from a public
        address into the internal networks) makes robots.txt unavailable, which allows all
        (RFC 9309, 2.3.1.2).
        """
        try:
            response = self.pool.urlopen("GET", url, retries=_ROBOTS_RETRY, preload_content=False)
        except (LocationValueError, ValueError, InternalAddress):
            return 0, b""
        try:
            body = b""
            if 200 <= response.status < 300:
                body = _read_capped(response, ROBOTS_MAX_BYTES)
                if guard.was_cut:
                    raise Cut
            return response.status, body
        finally:
            response.release_conn()


class _Nowhere(io.RawIOBase):
    """A body not kept: writes go nowhere."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        return len(data)

    def close(self) -> None:
        pass


NOWHERE = _Nowhere()


def _closed_unanswered(exc: ProtocolError) -> bool:
    """Whether the connection was closed before any byte of an answer came."""
    reason = exc.args[-1] if exc.args else None
    return isinstance(
        reason, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
    )


def warc_date() -> str:
    """Now, as a WARC-Date (UTC, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def conditions(previous: Previous | None, url: str) -> dict[str, str] | None:
    """The conditional headers for url from what an earlier crawl saw there, if anything."""
    if previous is None or previous.final_url != url:
        return None
    extra = {"If-None-Match": previous.etag, "If-Modified-Since": previous.last_modified}
    return {k: v for k, v in extra.items() if _sendable(v)} or None


def _sendable(value: str) -> bool:
    """Whether a header value can go on the wire as it is: printable latin-1, not empty."""
    return bool(value) and value.isprintable() and all(ord(ch) < 256 for ch in value)


def validator(value: str | None) -> str:
    """A header's value for pages.tsv: one line, '' if absent or longer than VALIDATOR_CHARS."""
    text = " ".join((value or "").split())
    return text if len(text) <= VALIDATOR_CHARS else ""


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
    length = declared_length(response.headers.get("Content-Length"))
    if length is not None and length <= limit:
        response.drain_conn()
    else:
        response.close()


def join_location(base: str, location: str) -> str | None:
    """The URL a Location header leads to from base; None if it is not a URL."""
    try:
        return urljoin(base, _header_text(location))
    except ValueError:
        return None


def _header_text(value: str) -> str:
    """A header as sent: http.client decodes latin-1, servers mostly mean UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value
