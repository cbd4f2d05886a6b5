"""The crawl stage against a test site on 127.0.0.1: one row per URL line, in input order,
whatever the URL does; retries, deadlines, limits and memory.

Every test is bounded in time (a SIGALRM guard; every server path ends by itself). No test
checks speed; the few time checks are lower bounds (a wait that must have happened).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from poolpipe.core.chunks import split_file
from poolpipe.crawl import aengine, ranges
from poolpipe.crawl import engine as crawl_mod
from poolpipe.crawl.demosite import CLOSED_HOST, DEMO_HOST, Site, SiteSpec, serve
from poolpipe.crawl.engine import Engine
from poolpipe.crawl.fetch import FetchOutcome, error
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.kinds import ErrorKind
from poolpipe.crawl.merge import iter_rows
from poolpipe.crawl.ranges import crawl_file, crawl_range
from poolpipe.crawl.rows import PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import index_urls

from ..crawl_helpers import read_pages, site_stats, url_lines

D = f"http://{DEMO_HOST}"
FAST = CrawlSettings(
    deadline=5.0, read_timeout=5.0, connect_timeout=5.0, backoff=0.05, backoff_max=2.0
)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """One test site for the module (paths with state take a name unique to their test)."""
    with serve(SiteSpec(pages=500, interval=0.2, hang_max=30, max_seconds=900)) as running:
        yield running


@pytest.fixture
def fresh_site() -> Iterator[Site]:
    """A site of its own, for tests that read its in-flight counter; 50 ms per request."""
    with serve(SiteSpec(pages=500, latency=0.05, hang_max=30, max_seconds=300)) as running:
        yield running


def run_crawl(
    tmp_path: Path,
    lines: list[str],
    settings: CrawlSettings,
    site: Site | None,
    processes: int = 2,
    serial: bool = False,
) -> list[PageRow]:
    """Crawl these lines (demo host names sent to the site); the rows, checked for order."""
    urls = tmp_path / "urls.txt"
    data = ("\n".join(lines) + "\n").encode()
    urls.write_bytes(data)
    dups = tmp_path / "dups.tsv"
    index = index_urls(urls, dups)
    reach = settings.with_hosts(site.hosts()) if site else settings
    part = tmp_path / "part.jsonl"
    crawl_range(
        split_file(urls, 1)[0],
        reach,
        processes=processes,
        out=part,
        duplicates=str(dups),
        serial=serial,
    )
    rows = list(iter_rows([part]))
    assert [r.line for r in rows] == url_lines(data)
    assert len(rows) == index.urls
    return rows


def by_url(rows: list[PageRow]) -> dict[str, PageRow]:
    """Rows keyed by URL (first occurrence)."""
    out: dict[str, PageRow] = {}
    for row in rows:
        out.setdefault(row.url, row)
    return out


def test_every_kind_of_line_gets_one_row_in_input_order(tmp_path, site):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read me")
    lines = [
        "# a list with one of each kind of URL",
        f"{D}/page/1",
        "",
        f"{D}/status/404",
        f"{D}/flaky/every-kind?fails=1",
        f"{D}/redirect/3",
        f"{D}/loop/every-kind",
        f"{D}/big?bytes=3000000",
        f"{D}/hang?seconds=20",
        f"{D}/trickle?seconds=20",
        "   # an indented comment",
        f"file://{secret}",
        "ftp://example.invalid/x",
        "http://no-such-host.invalid/",
        f"http://{CLOSED_HOST}/",
        "http://[::1",
        "not a url",
        f"  {D}/page/1  ",
        f"{D}/page/2",
    ]
    settings = replace(FAST, deadline=1.5, max_bytes=1_000_000, retries=1)
    rows = by_url(run_crawl(tmp_path, lines, settings, site))
    want = {
        f"{D}/page/1": ("", 200, 1),
        f"{D}/status/404": ("", 404, 1),
        f"{D}/flaky/every-kind?fails=1": ("", 200, 2),
        f"{D}/redirect/3": ("", 200, 1),
        f"{D}/loop/every-kind": ("redirect_loop", 302, 1),
        f"{D}/big?bytes=3000000": ("too_large", 200, 1),
        f"{D}/hang?seconds=20": ("deadline", None, 1),
        f"{D}/trickle?seconds=20": ("deadline", None, 1),
        f"file://{secret}": ("scheme", None, 0),
        "ftp://example.invalid/x": ("scheme", None, 0),
        "http://no-such-host.invalid/": ("dns", None, 1),
        f"http://{CLOSED_HOST}/": ("refused", None, 2),
        "http://[::1": ("invalid_url", None, 0),
        "not a url": ("invalid_url", None, 0),
        f"{D}/page/2": ("", 200, 1),
    }
    got = {url: (rows[url].error, rows[url].status, rows[url].attempts) for url in want}
    assert got == want
    assert rows[f"{D}/redirect/3"].final_url == f"{D}/page/0"
    assert rows[f"file://{secret}"].bytes == 0


def test_repeated_urls_are_fetched_once_and_reported(tmp_path, site):
    page = f"{site.base}/page/77"
    lines = [page, f"{site.base}/page/78", f"  {page}", "# " + page, page]
    rows = run_crawl(tmp_path, lines, FAST, site)
    assert [(r.line, r.error, r.detail) for r in rows] == [
        (1, "", ""),
        (2, "", ""),
        (3, "duplicate", "same URL as line 1"),
        (5, "duplicate", "same URL as line 1"),
    ]
    assert site_stats(site)["hits"]["/page/77"] == 1


def test_a_500_then_success_is_retried(tmp_path, site):
    rows = run_crawl(tmp_path, [f"{site.base}/flaky/retried?fails=2&status=500"], FAST, site)
    assert (rows[0].status, rows[0].attempts, rows[0].error) == (200, 3, "")
    assert site_stats(site)["hits"]["/flaky/retried?fails=2&status=500"] == 3


def test_retries_stop_at_the_limit_with_exponential_backoff(tmp_path, site):
    settings = replace(FAST, retries=2, backoff=0.2)
    rows = run_crawl(tmp_path, [f"{site.base}/status/503"], settings, site)
    assert (rows[0].status, rows[0].attempts, rows[0].error) == (503, 3, "")
    assert rows[0].elapsed_ms >= (0.2 + 0.4) * 1000


def _gaps(site: Site, path: str) -> list[float]:
    times = [t for p, t in site_stats(site)["arrivals"] if p == path]
    return [b - a for a, b in pairwise(times)]


def test_retry_after_is_honoured(tmp_path, site):
    path = "/retry-after/honoured?fails=1&seconds=1"
    rows = run_crawl(tmp_path, [site.base + path], replace(FAST, backoff=0.01), site)
    assert (rows[0].status, rows[0].attempts) == (200, 2)
    assert _gaps(site, path)[0] >= 0.95


def test_retry_after_is_capped(tmp_path, site):
    path = "/retry-after/capped?fails=1&seconds=3600&status=429"
    settings = replace(FAST, backoff_max=0.3)
    rows = run_crawl(tmp_path, [site.base + path], settings, site)
    assert (rows[0].status, rows[0].attempts) == (200, 2)
    assert 0.25 <= _gaps(site, path)[0] < 3600


def test_backoff_values():
    s = replace(FAST, backoff=0.5, backoff_max=3.0)
    assert [crawl_mod.backoff(s, n, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert crawl_mod.backoff(s, 1, 2.5) == 2.5
    assert crawl_mod.backoff(s, 1, 3600.0) == 3.0


def test_hanging_and_trickling_urls_are_cut_at_the_deadline(tmp_path, site):
    lines = [
        f"{site.base}/hang?seconds=25",
        f"{site.base}/trickle?seconds=25",
        f"{site.base}/trickle-headers?seconds=25",
    ]
    rows = run_crawl(tmp_path, lines, replace(FAST, deadline=1.0, read_timeout=10.0), site)
    assert [(r.error, r.status, r.attempts) for r in rows] == [("deadline", None, 1)] * 3
    assert all(r.detail == "cut off after 1 s" for r in rows), "sockets cut, no thread left"
    assert all(r.elapsed_ms >= 1000 for r in rows)


def test_a_silent_server_hits_the_read_timeout(tmp_path, site):
    settings = replace(FAST, read_timeout=0.3, deadline=10.0, retries=0)
    rows = run_crawl(tmp_path, [f"{site.base}/hang?seconds=5"], settings, site)
    assert rows[0].error == "read_timeout"


@contextmanager
def raw_server(reply: bytes, hold_s: float) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that sends `reply` to each connection and holds it open
    for hold_s; it serves at most 10 connections, each for at most hold_s seconds."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(hold_s)

    def serve_some() -> None:
        held = []
        for _ in range(10):
            try:
                conn, _ = listener.accept()
            except OSError:
                break
            with suppress(OSError):
                conn.sendall(reply)
            held.append(conn)
        time.sleep(hold_s)
        for conn in held:
            conn.close()

    thread = threading.Thread(target=serve_some, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_tls_to_a_server_that_does_not_speak_it_is_a_tls_row(tmp_path):
    with raw_server(b"HTTP/1.1 400 Bad Request\r\n\r\n", hold_s=5) as port:
        rows = run_crawl(tmp_path, [f"https://127.0.0.1:{port}/"], FAST, None, serial=True)
    assert (rows[0].error, rows[0].status, rows[0].attempts) == ("tls", None, 1)


def test_a_silent_tls_handshake_is_cut_at_the_deadline(tmp_path):
    settings = replace(FAST, deadline=1.0, connect_timeout=20.0, read_timeout=20.0)
    with raw_server(b"", hold_s=15) as port:
        rows = run_crawl(tmp_path, [f"https://127.0.0.1:{port}/"], settings, None, serial=True)
    assert (rows[0].error, rows[0].detail) == ("deadline", "cut off after 1 s")


def test_redirects_are_followed_up_to_the_limit(tmp_path, site):
    lines = [f"{site.base}/redirect/2", f"{site.base}/redirect/6", f"{site.base}/loop/limit"]
    rows = run_crawl(tmp_path, lines, replace(FAST, max_redirects=3), site)
    assert (rows[0].status, rows[0].final_url) == (200, f"{site.base}/page/0")
    assert rows[1].error == "too_many_redirects"
    assert rows[2].error == "redirect_loop"


def test_bodies_over_the_cap_are_refused(tmp_path, site):
    lines = [
        f"{site.base}/big?bytes=50001",
        f"{site.base}/big?bytes=50001&chunked=1",
        f"{site.base}/big?bytes=50000&chunked=1",
    ]
    rows = run_crawl(tmp_path, lines, replace(FAST, max_bytes=50_000), site)
    assert [(r.error, r.bytes) for r in rows] == [("too_large", 0), ("too_large", 0), ("", 50000)]


def test_file_urls_never_read_a_local_file(tmp_path, site):
    secret = tmp_path / "secret.txt"
    secret.write_text("x" * 123)
    lines = [f"file://{secret}", f"{site.base}/redirect-to?url=file://{secret}", f"{secret}"]
    rows = run_crawl(tmp_path, lines, FAST, site)
    assert [r.error for r in rows] == ["scheme", "scheme", "invalid_url"]
    assert all(r.bytes == 0 and r.status is None for r in rows)


def test_invalid_names_are_never_looked_up(tmp_path, site, monkeypatch):
    asked: list[str] = []

    def spy(host, *args, **kwargs):
        asked.append(host)
        raise AssertionError("getaddrinfo must not be called")

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    lines = ["http://no-such-host.invalid/", "https://also.invalid:8443/x", f"{D}/page/3"]
    rows = run_crawl(tmp_path, lines, FAST, site, processes=1, serial=True)
    assert [(r.error, r.status) for r in rows] == [("dns", None), ("dns", None), ("", 200)]
    assert asked == []


def test_dns_failures_through_a_mocked_resolver(tmp_path, monkeypatch):
    """Names that are not .invalid go to the system resolver; here it is a stand-in, so nothing
    leaves the machine: one name is unknown, the other fails temporarily (and is retried)."""
    asked: list[str] = []

    def fake(host, *args, **kwargs):
        asked.append(host)
        code = socket.EAI_AGAIN if host.startswith("busy") else socket.EAI_NONAME
        raise socket.gaierror(code, "mocked resolver")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    lines = ["http://unknown.example/", "http://busy.example/"]
    rows = run_crawl(tmp_path, lines, replace(FAST, retries=2), None, processes=1, serial=True)
    assert [(r.error, r.attempts) for r in rows] == [("dns", 1), ("dns_temporary", 3)]
    assert sorted(set(asked)) == ["busy.example", "unknown.example"]


def test_robots_txt_is_obeyed_and_fetched_once_per_process(tmp_path, fresh_site):
    lines = [f"{D}/private/a", f"{D}/page/1", f"{D}/page/2", f"{D}/private/b"]
    rows = run_crawl(tmp_path, lines, FAST, fresh_site, processes=2)
    assert [r.error for r in rows] == ["robots", "", "", "robots"]
    assert 1 <= site_stats(fresh_site)["hits"]["/robots.txt"] <= 2
    ignored = run_crawl(tmp_path, lines, replace(FAST, robots=False), fresh_site)
    assert [(r.error, r.status) for r in ignored] == [("", 200)] * 4


@pytest.mark.parametrize(
    ("concurrency", "per_host", "limit"),
    [(8, 2, 2), (3, 64, 3)],
    ids=["per-host limit holds across processes", "total concurrency is shared out"],
)
def test_the_limits_hold_across_processes(tmp_path, fresh_site, concurrency, per_host, limit):
    lines = [f"{fresh_site.base}/page/{i}" for i in range(60)]
    settings = replace(FAST, concurrency=concurrency, per_host=per_host, robots=False)
    rows = run_crawl(tmp_path, lines, settings, fresh_site, processes=2)
    assert all(r.status == 200 for r in rows)
    assert site_stats(fresh_site)["max_in_flight"] == limit


def test_per_host_delay_spaces_the_requests_out(tmp_path, fresh_site):
    lines = [f"{fresh_site.base}/page/{i}" for i in range(5)]
    settings = replace(FAST, concurrency=4, per_host=4, per_host_delay=0.3, robots=False)
    run_crawl(tmp_path, lines, settings, fresh_site, processes=2)
    times = sorted(t for p, t in site_stats(fresh_site)["arrivals"] if p.startswith("/page/"))
    assert len(times) == 5
    assert min(b - a for a, b in pairwise(times)) >= 0.25


def test_a_thread_stuck_outside_any_socket_is_written_off(tmp_path, monkeypatch):
    """A name lookup cannot be cut; the scheduler writes the URL off after the grace period
    and a fresh thread carries on with the next URLs."""
    release = threading.Event()
    real = socket.getaddrinfo

    def stuck(host, *args, **kwargs):
        if host == "stuck.example":
            release.wait(30)
            raise socket.gaierror(socket.EAI_NONAME, "released")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    monkeypatch.setattr(crawl_mod, "GRACE_S", 0.2)
    with serve(SiteSpec(max_seconds=120)) as local:
        lines = ["http://stuck.example/", f"{local.base}/page/1", f"{local.base}/page/2"]
        settings = replace(FAST, deadline=0.5, concurrency=1, robots=False)
        try:
            rows = run_crawl(tmp_path, lines, settings, local, processes=1, serial=True)
        finally:
            release.set()
    assert rows[0].error == "deadline" and "no answer within" in rows[0].detail
    assert [r.status for r in rows[1:]] == [200, 200]


def test_many_pieces_keep_every_line_in_order(tmp_path, site, monkeypatch):
    monkeypatch.setattr(ranges, "PIECE_BYTES", 256)
    lines = []
    for i in range(150):
        lines.append(f"{D}/page/{i}")
        if i % 7 == 0:
            lines += ["", f"# comment {i}"]
        if i % 11 == 0:
            lines.append(f"{D}/page/{i // 2}")
    rows = run_crawl(tmp_path, lines, FAST, site, processes=3)
    assert sum(r.error == "duplicate" for r in rows) == sum(1 for i in range(150) if i % 11 == 0)
    assert all(r.status == 200 for r in rows if not r.error)


class _Instant:
    """A stand-in fetcher: answers at once, but one URL in 500 takes 20 ms (out of order)."""

    def attempt(self, url: str, guard) -> FetchOutcome:
        guard.finish()
        if url.endswith("00"):
            time.sleep(0.02)
        return FetchOutcome(status=200, final_url=url, bytes=10)

    def close(self) -> None:
        pass


def _peak_bytes(count: int, window: int) -> int:
    settings = replace(FAST, concurrency=8, per_host=8)
    engine = Engine(settings, threads=8, limiter=HostLimiter(8), window=window, fetcher=_Instant)
    items = ((i + 1, f"http://h{i % 50}.invalid/{i}") for i in range(count))
    tracemalloc.start()
    try:
        rows = sum(1 for _ in engine.run(items))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == count
    return peak


def test_memory_is_bounded_by_the_window_not_the_input():
    small = _peak_bytes(5_000, window=500)
    large = _peak_bytes(25_000, window=500)
    assert large < small * 1.5 + (256 << 10)
    unbounded = _peak_bytes(25_000, window=25_000)
    assert unbounded > 4 * large, "the measure must see memory that grows with the input"


def test_the_first_request_starts_before_the_window_is_read():
    fetching = threading.Event()
    waited = []

    class Recording(_Instant):
        def attempt(self, url: str, guard) -> FetchOutcome:
            fetching.set()
            return super().attempt(url, guard)

    def items():
        for i in range(20_000):
            if i == crawl_mod.ADMIT_BATCH:
                waited.append(fetching.wait(10))
            yield i + 1, f"http://h{i % 50}.invalid/{i}"

    engine = Engine(FAST, threads=4, limiter=HostLimiter(4), window=20_000, fetcher=Recording)
    assert sum(1 for _ in engine.run(items())) == 20_000
    assert waited == [True], "no request started until more than a batch of lines was read"


def test_the_asyncio_engine_wakes_for_every_attempt_that_lands(monkeypatch):
    """An attempt that lands stops the loop for the scheduler soon after, whichever turn of
    the loop it ends in: the engine never sleeps out its wait's cap (5 s here, 1 s in a crawl,
    where it once held up the last pages of a piece). Stand-in attempts end after 0 to 4 turns
    of the loop, so that some end in the turn just before or as the loop stops."""
    capped: list[None] = []
    cap = aengine._cap
    monkeypatch.setattr(aengine, "_cap", lambda loop: (capped.append(None), cap(loop)))
    monkeypatch.setattr(
        aengine.AsyncEngine, "_due", lambda self, hint, *more: 5.0 if hint is None else hint
    )

    async def attempt(url: str, guard, previous=None, parsed=None) -> FetchOutcome:
        for _ in range(int(url.rsplit("/", 1)[1]) % 5):
            await asyncio.sleep(0)
        guard.finish()
        return FetchOutcome(status=200, final_url=url, bytes=10)

    for concurrency, count in [(4, 4), (4, 9), (4, 29), (8, 4), (8, 34), (8, 200)]:
        engine = aengine.AsyncEngine(FAST, concurrency=concurrency, limiter=HostLimiter(8))
        monkeypatch.setattr(engine.fetcher, "attempt", attempt)
        items = [(i + 1, f"http://h.invalid/{i}") for i in range(count)]
        assert [r.status for r in engine.run(items)] == [200] * count
        assert capped == [], f"{count} URLs at {concurrency}: a landed attempt waited for the cap"


def test_a_freed_place_starts_the_next_url_in_the_same_task_and_turn(monkeypatch):
    """The attempt that ends takes the next URL its place lets start in its own task, so the
    request goes out in the turn of the loop its answer landed in; a later attempt of that
    task is still cut at its own deadline, and the ones after it still run."""
    tasks: list[asyncio.Task | None] = []
    in_turn: list[bool] = []
    ending: set[object] = set()  # attempts that returned in this turn of the loop

    async def attempt(url: str, guard, previous=None, parsed=None) -> FetchOutcome:
        tasks.append(asyncio.current_task())
        in_turn.append(bool(ending))
        try:
            await asyncio.sleep(3600 if url.endswith("/3") else 0)
        except asyncio.CancelledError:
            if not guard.was_cut:
                raise
            return error(ErrorKind.DEADLINE, "cut", final_url=url)
        guard.finish()
        token = object()
        ending.add(token)
        asyncio.get_running_loop().call_soon(ending.discard, token)
        return FetchOutcome(status=200, final_url=url, bytes=10)

    engine = aengine.AsyncEngine(
        replace(FAST, deadline=1.0, retries=0), concurrency=2, limiter=HostLimiter(2)
    )
    monkeypatch.setattr(engine.fetcher, "attempt", attempt)
    rows = list(engine.run([(i + 1, f"http://h.invalid/{i}") for i in range(8)]))
    assert [r.status for r in rows] == [200, 200, 200, None, 200, 200, 200, 200]
    assert rows[3].error == "deadline"
    assert len(tasks) == 8 and len(set(tasks)) <= 3, "a new task for each URL"
    # after the first two, each URL starts in the turn its predecessor's answer landed in
    # (all but the one after the cut, whose predecessor ends by its deadline)
    assert in_turn[2:].count(False) <= 1, in_turn


def test_an_engine_that_ends_early_gives_its_hosts_places_back(monkeypatch):
    """The per-host places are shared by every worker of a crawl: a worker that ends with
    attempts in flight (its disk full) must give theirs back, or the other workers wait for
    them for ever."""
    limiter = HostLimiter(4)

    async def attempt(url: str, guard, previous=None, parsed=None) -> FetchOutcome:
        if not url.endswith("/0"):
            await asyncio.sleep(3600)
        guard.finish()
        return FetchOutcome(status=200, final_url=url, bytes=10)

    engine = aengine.AsyncEngine(FAST, concurrency=4, limiter=limiter)
    monkeypatch.setattr(engine.fetcher, "attempt", attempt)
    rows = engine.run([(i + 1, f"http://h.invalid/{i}") for i in range(4)])
    assert next(rows).status == 200
    slot = limiter.slot("h.invalid")
    assert limiter.in_flight(slot) == 3
    rows.close()
    assert limiter.in_flight(slot) == 0


def test_a_threaded_engine_that_ends_early_gives_its_hosts_places_back():
    """The same for the engine of fetch threads: the threads still fetching when it ends give
    no outcome it settles, so it gives their places back itself."""
    limiter = HostLimiter(4)
    release = threading.Event()

    class Slow(_Instant):
        def attempt(self, url: str, guard) -> FetchOutcome:
            if not url.endswith("/0"):
                release.wait(30)
            return super().attempt(url, guard)

    engine = Engine(FAST, threads=4, limiter=limiter, fetcher=Slow)
    rows = engine.run([(i + 1, f"http://h.invalid/{i}") for i in range(4)])
    try:
        assert next(rows).status == 200
        slot = limiter.slot("h.invalid")
        assert limiter.in_flight(slot) == 3
        rows.close()
        assert limiter.in_flight(slot) == 0
    finally:
        release.set()


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   \n"])
def test_a_file_without_urls_gives_an_empty_table(tmp_path, text):
    urls = tmp_path / "urls.txt"
    urls.write_text(text)
    out = tmp_path / "pages.tsv"
    result = crawl_file(str(urls), out=out, settings=FAST, processes=2, site=None)
    assert (result["rows"], result["urls"], result["timing"]["latency_ms"]) == (0, 0, {})
    assert read_pages(out) == []


def test_crawl_file_writes_pages_and_a_summary(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{D}/page/5\n\n# c\n{D}/status/500\n{D}/page/5\nmailto:x@y\n")
    out = tmp_path / "out" / "pages.tsv"
    result = crawl_file(
        str(urls), out=out, settings=replace(FAST, retries=1), processes=2, site=None
    )
    assert [r.line for r in read_pages(out)] == [1, 4, 5, 6]
    counts = {k: result[k] for k in ("lines", "urls", "blank_lines", "comment_lines")}
    assert counts == {"lines": 6, "urls": 4, "blank_lines": 1, "comment_lines": 1}
    assert result["by_error"] == {"dns": 2, "duplicate": 1, "scheme": 1}
    assert sorted(p.name for p in out.parent.iterdir()) == ["pages.tsv"]
