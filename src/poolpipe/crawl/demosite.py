"""A small HTTP/1.1 site on 127.0.0.1 (or another loopback address) for the crawl stage's
demo, tests and benchmark.

Every response is a pure function of the path and of how often that path was asked for, so a
crawl of it is deterministic. Every loop is bounded in count and time: a connection serves at
most MAX_REQUESTS requests and waits at most IDLE_S for the next one, a hanging or trickling
path ends after at most SiteSpec.hang_max seconds, and the whole server exits after
SiteSpec.max_seconds or as soon as the process that started it is gone. serve() runs it in a
subprocess; demo_site() does so around a crawl and sends DEMO_HOST and CLOSED_HOST to it.

Paths:
  /page/N                  200, SiteSpec.page_bytes of HTML (404 for N >= SiteSpec.pages), with
                           an ETag and a Last-Modified that change with SiteSpec.version; 304
                           to a request whose If-None-Match or If-Modified-Since they satisfy
  /status/CODE             that status, a short body
  /flaky/NAME?fails=K&status=S         S (default 500) the first K times, then 200
  /retry-after/NAME?fails=K&seconds=T&status=S  S (default 503) with Retry-After: T, then 200
  /redirect/N              302 to /redirect/N-1; /redirect/0 redirects to /page/0
  /redirect-to?url=U       302 to U, whatever it is
  /loop/NAME               302 to /loop/NAME/again, which redirects back
  /big?bytes=N[&chunked=1] N bytes, with a Content-Length (or chunked, without one)
  /gzip?bytes=N            N zero bytes sent gzip-compressed (a compression bomb: about N/1000 on
                           the wire), Content-Encoding: gzip
  /hang?seconds=T          reads the request, answers nothing for T seconds, closes
  /trickle?seconds=T       200 with a long Content-Length, then a byte every `interval` s
  /trickle-headers?seconds=T   the status line and headers a byte at a time
  /raw?status=S&h=NAME:VALUE&...   status S (default 200; any text) with exactly these header lines,
                           percent-decoded as latin-1 bytes (malformed ones too), then a short
                           body; a Content-Length is added unless one is given; then closes
  /robots.txt              disallows /private/ (302 to SiteSpec.robots_location if set), with
                           SiteSpec.crawl_delay as its Crawl-delay if set
  /private/NAME            200 (but robots.txt forbids it)
  /__stats__               JSON: requests per path (query included) as "hits", the most
                           requests it was ever answering at once as "max_in_flight", and
                           the arrival times (monotonic seconds) of the last ARRIVALS
                           requests as "arrivals" [[path, time], ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import ipaddress
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs, parse_qsl, urlsplit

from poolpipe.core.pool import die_with_parent
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.errors import PoolpipeError

LOOPBACK = "127.0.0.1"
"""Where the site listens unless told another loopback address (tests of internal redirects)."""

DEMO_HOST = "demo.poolpipe.invalid"
"""The demo site's name in URL files; the crawler sends it to the running site."""

CLOSED_HOST = "closed.poolpipe.invalid"
"""A name the crawler sends to a port of 127.0.0.1 that refuses connections."""

MAX_REQUESTS = 100_000
ARRIVALS = 4096
IDLE_S = 30.0
HEAD_LIMIT = 64 << 10
GZIP_MAX = 4 << 30
"""The most zero bytes /gzip sends (decoded)."""
ROBOTS = b"User-agent: *\nDisallow: /private/\n"
EPOCH = 1_577_836_800
"""2020-01-01 00:00:00 UTC: the Last-Modified of the demo pages at version 0."""
STATUS_TEXT = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    400: "Bad Request",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_FILL = b"poolpipe demo page. " * 64


@dataclass(frozen=True, kw_only=True)
class SiteSpec:
    """What the site serves and how slowly."""

    pages: int = 1000
    page_bytes: int = 10_000
    latency: float = 0.0
    interval: float = 0.5
    hang_max: float = 120.0
    max_seconds: float = 6 * 3600.0
    robots_location: str = ""
    version: int = 0
    crawl_delay: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Site:
    """A running site: where it listens, and a port on 127.0.0.1 that refuses connections."""

    host: str
    port: int
    closed_port: int
    pid: int = 0

    @property
    def base(self) -> str:
        """The site's URL prefix by address, e.g. http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    def hosts(self) -> dict[str, str]:
        """The names the crawler should send here: DEMO_HOST and CLOSED_HOST."""
        return {
            DEMO_HOST: f"{self.host}:{self.port}",
            CLOSED_HOST: f"{self.host}:{self.closed_port}",
        }


def page_body(index: int, size: int, version: int = 0) -> bytes:
    """The deterministic HTML of page `index`, exactly `size` bytes (at least its head)."""
    name = f"page {index}" if not version else f"page {index} version {version}"
    head = f"<html><title>{name}</title><body><p>".encode()
    tail = b"</p></body></html>\n"
    fill = max(0, size - len(head) - len(tail))
    body = head + (_FILL * (fill // len(_FILL) + 1))[:fill] + tail
    return body[:size] if size >= len(head) + len(tail) else body


def validators(index: int, version: int) -> dict[str, str]:
    """The ETag and Last-Modified of page `index` at a version of the site."""
    modified = email.utils.formatdate(EPOCH + 86400 * version, usegmt=True)
    return {"ETag": f'"p{index}-v{version}"', "Last-Modified": modified}


def not_modified(found: dict[str, str], asked: dict[str, str]) -> bool:
    """Whether a request's If-None-Match (else If-Modified-Since) says the page is unchanged."""
    if "if-none-match" in asked:
        tags = [t.strip().removeprefix("W/") for t in asked["if-none-match"].split(",")]
        return "*" in tags or found["ETag"] in tags
    since = asked.get("if-modified-since")
    if since is None:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return email.utils.parsedate_to_datetime(found["Last-Modified"]).timestamp() <= when


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Status')}"]
    fields = {"Content-Type": "text/html", "Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raw_response(query: str) -> bytes:
    """The /raw answer: the status and header lines the query names, byte for byte."""
    pairs = parse_qsl(query, encoding="latin-1")
    status = next((v for k, v in pairs if k == "status"), "200")
    reason = STATUS_TEXT.get(int(status), "Status") if status.isdecimal() else ""
    lines = [line for k, line in pairs if k == "h"]
    body = b"raw page\n"
    if not any(h.lower().startswith("content-length:") for h in lines):
        lines.append(f"Content-Length: {len(body)}")
    head = [f"HTTP/1.1 {status} {reason}".rstrip(), *lines]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class DemoServer:
    """The asyncio server behind the site."""

    def __init__(self, spec: SiteSpec) -> None:
        self.spec = spec
        self.hits: Counter[str] = Counter()
        self.arrivals: deque[tuple[str, float]] = deque(maxlen=ARRIVALS)
        self.in_flight = 0
        self.max_in_flight = 0
        self._page = page_body(0, spec.page_bytes, spec.version)

    def stats(self) -> bytes:
        """The /__stats__ document."""
        doc = {
            "hits": dict(self.hits),
            "max_in_flight": self.max_in_flight,
            "arrivals": list(self.arrivals),
        }
        return json.dumps(doc).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection: at most MAX_REQUESTS requests, each awaited at most IDLE_S."""
        try:
            for _ in range(MAX_REQUESTS):
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_S)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                    break
                keep = await self.answer(head, writer)
                if not keep:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def answer(self, head: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False if the connection must close afterwards."""
        try:
            request_line, *fields = head.decode("latin-1").split("\r\n")
            method, target, _version = request_line.split(" ")
        except ValueError:
            writer.write(_response(400, b"bad request\n", {"Connection": "close"}))
            return False
        close = any(f.lower().replace(" ", "") == "connection:close" for f in fields)
        asked = {}
        for f in fields:
            name, _, value = f.partition(":")
            asked[name.strip().lower()] = value.strip()
        if target == "/__stats__":
            writer.write(_response(200, self.stats(), {"Content-Type": "application/json"}))
            return not close
        self.hits[target] += 1
        self.arrivals.append((target, time.monotonic()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(method, target, close, writer, asked)
        finally:
            self.in_flight -= 1

    async def _answer(
        self,
        method: str,
        target: str,
        close: bool,
        writer: asyncio.StreamWriter,
        asked: dict[str, str],
    ) -> bool:
        if self.spec.latency:
            await asyncio.sleep(self.spec.latency)
        url = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if parts[0] == "raw":
            writer.write(raw_response(url.query))
            return False
        special = await self.special(parts, query, writer)
        if special is not None:
            return special and not close
        status, body, headers = self.route(parts, query, target)
        if status == 200 and "ETag" in headers and not_modified(headers, asked):
            status, body = 304, b""
        if close:
            headers["Connection"] = "close"
        data = _response(status, body, headers)
        writer.write(data[: len(data) - len(body)] if method == "HEAD" else data)
        if writer.transport.get_write_buffer_size() > 1 << 20:
            await writer.drain()
        return not close

    def route(
        self, parts: list[str], query: dict[str, str], target: str
    ) -> tuple[int, bytes, dict[str, str]]:
        """Status, body and headers of the plain (non-streaming) paths."""
        kind, rest = parts[0], parts[1:]
        count = self.hits[target]
        if kind == "page" and len(rest) == 1 and rest[0].isdigit():
            index = int(rest[0])
            if index < self.spec.pages:
                version = self.spec.version
                body = self._page if index == 0 else page_body(index, self.spec.page_bytes, version)
                return 200, body, validators(index, version)
        elif kind == "status" and len(rest) == 1 and rest[0].isdigit():
            return int(rest[0]), f"status {rest[0]}\n".encode(), {}
        elif kind in ("flaky", "retry-after") and rest:
            fails = int(query.get("fails", "1"))
            if count <= fails:
                status = int(query.get("status", "500" if kind == "flaky" else "503"))
                extra = {"Retry-After": query.get("seconds", "1")} if kind == "retry-after" else {}
                return status, f"try again ({count} of {fails})\n".encode(), extra
            return 200, page_body(count, 200), {}
        elif kind == "redirect" and len(rest) == 1 and rest[0].isdigit():
            n = int(rest[0])
            return 302, b"", {"Location": f"/redirect/{n - 1}" if n > 0 else "/page/0"}
        elif kind == "redirect-to" and "url" in query:
            return 302, b"", {"Location": query["url"]}
        elif kind == "loop" and rest:
            back = len(rest) > 1
            location = f"/loop/{rest[0]}" if back else f"/loop/{rest[0]}/again"
            return 302, b"", {"Location": location}
        elif kind == "robots.txt" and self.spec.robots_location:
            return 302, b"", {"Location": self.spec.robots_location}
        elif kind == "robots.txt":
            delay = f"Crawl-delay: {self.spec.crawl_delay:g}\n" if self.spec.crawl_delay else ""
            return 200, ROBOTS + delay.encode(), {"Content-Type": "text/plain"}
        elif kind == "private" and rest:
            return 200, page_body(1, 300), {}
        return 404, b"not found\n", {}

    async def special(
        self, parts: list[str], query: dict[str, str], writer: asyncio.StreamWriter
    ) -> bool | None:
        """Serve the streaming paths; None if the path is not one of them."""
        kind = parts[0]
        seconds = min(float(query.get("seconds", self.spec.hang_max)), self.spec.hang_max)
        if kind == "hang":
            await asyncio.sleep(seconds)
            return False
        if kind == "big":
            await self.big(int(query.get("bytes", "0")), query.get("chunked") == "1", writer)
            return True
        if kind == "gzip":
            body = _zeros_gzip(min(int(query.get("bytes", "0")), GZIP_MAX))
            head = {"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"}
            writer.write(_response(200, body, head))
            await writer.drain()
            return True
        if kind in ("trickle", "trickle-headers"):
            data = _response(200, b"x" * 1_000_000)
            if kind == "trickle":
                cut = data.index(b"\r\n\r\n") + 4
                writer.write(data[:cut])
                data = data[cut:]
            end = time.monotonic() + seconds
            for byte in data:
                if time.monotonic() >= end:
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(self.spec.interval)
            return False
        return None

    async def big(self, size: int, chunked: bool, writer: asyncio.StreamWriter) -> None:
        """Send `size` bytes, with a Content-Length or chunked, draining as it goes."""
        block = (_FILL * (65536 // len(_FILL) + 1))[:65536]
        if chunked:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        left = size
        while left > 0:
            piece = block[: min(left, len(block))]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            left -= len(piece)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()


def _zeros_gzip(size: int) -> bytes:
    """size zero bytes, gzip-compressed, made a block at a time."""
    pack = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    out = []
    for start in range(0, size, len(block)):
        out.append(pack.compress(block[: min(len(block), size - start)]))
    out.append(pack.flush())
    return b"".join(out)


async def _serve(spec: SiteSpec, sock: socket.socket, parent: int) -> None:
    server = DemoServer(spec)
    srv = await asyncio.start_server(server.handle, sock=sock, limit=HEAD_LIMIT, backlog=1024)
    end = time.monotonic() + spec.max_seconds
    async with srv:
        while time.monotonic() < end and os.getppid() == parent:
            await asyncio.sleep(0.5)


def run_server(
    spec: SiteSpec, port: int = 0, parent: int | None = None, host: str = LOOPBACK
) -> None:
    """Listen on host:port, print 'listening PORT' on stdout, serve until told to stop."""
    die_with_parent()
    if not ipaddress.ip_address(host).is_loopback:
        raise PoolpipeError(f"the demo site listens on loopback addresses only, not {host}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        raise PoolpipeError(f"the demo site cannot listen on {host}:{port}: {exc}") from None
    print(f"listening {sock.getsockname()[1]}", flush=True)
    # the site keeps nothing to save, and the crawl waits for it to end: at once, where a clean
    # exit (the loop's and the interpreter's clean-up) took 30 ms
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(_serve(spec, sock, os.getppid() if parent is None else parent))


@contextlib.contextmanager
def serve(
    spec: SiteSpec, port: int = 0, startup_s: float = 30.0, host: str = LOOPBACK
) -> Iterator[Site]:
    """Run the site in a subprocess on host (a loopback address; port 0: any free one) while
    the block runs."""
    cmd = [sys.executable, "-m", "poolpipe.crawl.demosite", "--spec", json.dumps(asdict(spec))]
    cmd += ["--port", str(port), "--parent", str(os.getpid()), "--host", host]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        closed.bind((host, 0))
        line = _first_line(proc, startup_s)
        if not line.startswith("listening "):
            proc.kill()
            err = proc.communicate(timeout=10)[1].decode(errors="replace").strip().splitlines()
            raise PoolpipeError(err[-1] if err else "the demo site did not start")
        port = int(line.split()[1])
        yield Site(host=host, port=port, closed_port=closed.getsockname()[1], pid=proc.pid)
    finally:
        closed.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


@contextlib.contextmanager
def demo_site(settings: CrawlSettings, spec: SiteSpec | None) -> Iterator[CrawlSettings]:
    """Run the demo site while the block runs (if spec is given); the settings that reach it."""
    if spec is None:
        yield settings
        return
    with serve(spec) as site:
        yield settings.with_hosts(site.hosts())


def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The subprocess's first line of output, or '' if it ends or is silent for timeout s."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return proc.stdout.readline().decode(errors="replace").strip()


def main(argv: list[str] | None = None) -> int:
    """python -m poolpipe.crawl.demosite --spec JSON [--port N]: run the site in the foreground."""
    parser = argparse.ArgumentParser(prog="python -m poolpipe.crawl.demosite")
    parser.add_argument("--spec", default="{}", help="SiteSpec fields as JSON")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent", type=int, default=None, help="exit when this process is gone")
    parser.add_argument("--host", default=LOOPBACK, help="a loopback address to listen on")
    args = parser.parse_args(argv)
    try:
        run_server(SiteSpec(**json.loads(args.spec)), args.port, args.parent, args.host)
    except PoolpipeError as exc:
        print(f"demo site: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
