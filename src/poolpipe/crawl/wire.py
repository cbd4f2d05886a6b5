"""HTTP/1.1 on the wire, without I/O: the request's bytes, the answer's head, its body's framing
and content coding.

The rules follow what the threaded fetcher (urllib3 over http.client) accepts, so that a row
says the same whichever engine fetched it: a status line must read `HTTP/x NNN`, header lines
without a colon are skipped, more than MAX_HEADERS header lines or one over MAX_LINE bytes is
a protocol error, Content-Lengths that disagree are a bad response, and a Content-Length that
is not ASCII digits is no length at all (the body runs to the close).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

MAX_HEADERS = 100
MAX_LINE = 65536
MAX_HEAD = MAX_LINE * 4
"""Bytes of head held while its end has not come: past this the answer is refused."""
ACCEPT_ENCODING = "gzip,deflate"
HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS = re.compile(r"HTTP/\d(?:\.\d)? +(\d{3})(?: (.*))?")
_NO_BODY = frozenset({204, 304})


class WireError(Exception):
    """The answer is not HTTP the crawler can read (a protocol error)."""


class BadLength(Exception):
    """Content-Length headers that disagree: which one frames the body is unknowable."""


class DecodeFailed(WireError):
    """A body whose Content-Encoding does not decode."""


@dataclass(slots=True)
class Head:
    """A response's status line and headers (names lower-cased; repeats joined by ', ')."""

    status: int
    reason: str
    version: str
    pairs: list[tuple[str, str]]
    fields: dict[str, str]

    def get(self, name: str) -> str | None:
        """A header's value (any case of its name), None if absent."""
        return self.fields.get(name.lower())

    def items(self) -> list[tuple[str, str]]:
        """The headers as they came, in order."""
        return self.pairs


def request(uri: str, host: str, headers: dict[str, str]) -> bytes:
    """A GET request's bytes; UnicodeEncodeError if a part cannot go on the wire."""
    lines = [f"GET {uri} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(data: bytes) -> Head:
    """Read a status line and header lines (the blank line excluded); WireError if unreadable."""
    text = data.decode("latin-1")
    lines = text.split("\n")
    first = lines[0].rstrip("\r")
    match = _STATUS.fullmatch(first)
    if match is None or int(match[1]) < 100:
        # as http.client's BadStatusLine (which takes no status below 100): the line itself
        # is the detail
        raise WireError(first or "empty status line")
    if len(lines) - 1 > MAX_HEADERS:
        raise WireError(f"got more than {MAX_HEADERS} headers")
    items: list[tuple[str, str]] = []
    fields: dict[str, str] = {}
    for raw in lines[1:]:
        line = raw.rstrip("\r")
        if len(line) > MAX_LINE:
            raise WireError(f"got more than {MAX_LINE} bytes when reading header line")
        if line[:1] in (" ", "\t") and items:
            # an obsolete folded line continues the header before it
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}")
            key = name.lower()
            fields[key] = f"{fields[key]} {line.strip()}"
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            continue
        value = value.strip(" \t")
        items.append((name, value))
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return Head(int(match[1]), match[2] or "", first.split(" ", 1)[0], items, fields)


def body_length(head: Head) -> int | None:
    """Bytes of body the head frames: 0 for none, -1 for chunked, None for 'up to the close';
    BadLength if Content-Lengths disagree."""
    if head.status in _NO_BODY or head.status < 200:
        return 0
    coding = head.get("transfer-encoding")
    if coding is not None:
        return -1 if coding.rsplit(",", 1)[-1].strip().lower() == "chunked" else None
    value = head.get("content-length")
    if value is None:
        return None
    lengths = set()
    for part in value.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()):
            return None
        lengths.add(int(part) if len(part) <= 18 else 10**18)
    if len(lengths) > 1:
        raise BadLength(f"Content-Length contained multiple unmatching values ({value})")
    return lengths.pop()


def keeps_alive(head: Head) -> bool:
    """Whether the connection may carry another request after this answer's body."""
    tokens = (head.get("connection") or "").lower()
    if "close" in tokens:
        return False
    return head.version != "HTTP/1.0" or "keep-alive" in tokens


class Decoder:
    """A body's Content-Encoding undone block by block, each output at most `limit` bytes
    (a compression bomb is never inflated whole)."""

    def __init__(self, encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
        self.codings = [c for c in codings if c in ("gzip", "x-gzip", "deflate")]
        self._stages = [_inflater(c) for c in reversed(self.codings)]
        self._first = [True] * len(self._stages)
        self._later = False

    @property
    def identity(self) -> bool:
        """Whether the body is passed through as it is."""
        return not self._stages

    def feed(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Decoded blocks of data (each at most limit bytes), made as they are taken."""
        if not self._stages:
            return iter((data,))
        return self._pipe(0, data, limit)

    def _pipe(self, i: int, data: bytes, limit: int) -> Iterator[bytes]:
        for block in self._run(i, data, limit):
            if i + 1 < len(self._stages):
                yield from self._pipe(i + 1, block, limit)
            else:
                yield block

    def _run(self, i: int, data: bytes, limit: int) -> Iterator[bytes]:
        # codings apply in order, so the last one named is undone first
        coding = self.codings[len(self.codings) - 1 - i]
        while True:
            d = self._stages[i]
            try:
                block = d.decompress(data, limit)
            except zlib.error as exc:
                if coding == "deflate" and self._first[i]:
                    # "deflate" often means a raw stream, without the zlib header
                    self._stages[i] = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first[i] = False
                    continue
                if self._later:
                    return  # bytes after the last gzip member are not a member: ignored
                raise DecodeFailed(
                    f"Received response with content-encoding: {coding}, but failed to decode it."
                ) from exc
            self._first[i] = False
            if block:
                yield block
            if not d.eof:
                data = d.unconsumed_tail
                if not data and len(block) < limit:
                    return
                continue  # output held back by the limit comes with the next call
            data = d.unused_data
            if not data or coding == "deflate":
                return
            # gzip may hold several members, one after another
            self._stages[i] = _inflater(coding)
            self._later = True


def _inflater(coding: str):
    return zlib.decompressobj(16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS)


class Chunks:
    """Transfer-Encoding: chunked, undone incrementally."""

    def __init__(self) -> None:
        self.left = 0
        self.state = "size"
        self.done = False

    def feed(self, buf: bytearray) -> tuple[list[bytes], bool]:
        """The body bytes buf holds now (taken out of it); whether more of buf is needed to go
        on. WireError if the framing is broken."""
        out: list[bytes] = []
        while not self.done:
            if self.state == "data":
                if not buf:
                    return out, True
                take = min(self.left, len(buf))
                out.append(bytes(buf[:take]))
                del buf[:take]
                self.left -= take
                if self.left:
                    return out, True
                self.state = "crlf"
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > MAX_LINE:
                    raise WireError("chunk size line too long")
                return out, True
            line = bytes(buf[:end]).strip()
            del buf[: end + 1]
            if self.state == "crlf":
                if line:
                    raise WireError(f"InvalidChunkLength(got length {line[:20]!r})")
                self.state = "size"
            elif self.state == "size":
                size = line.split(b";", 1)[0].strip()
                try:
                    self.left = int(size, 16)
                except ValueError:
                    raise WireError(f"InvalidChunkLength(got length {size[:20]!r})") from None
                if self.left < 0:
                    raise WireError(f"InvalidChunkLength(got length {size[:20]!r})")
                self.state = "data" if self.left else "trailer"
            elif not line:
                self.done = True
        return out, False
