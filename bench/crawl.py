"""Benchmark: crawl a local site (2000 pages, 50 ms each, 10 KB): article's recipe, threads +
requests.Session, aiohttp's asyncio client, poolpipe; the goal grid (2,000 and 20,000 pages at
concurrency 64, 128 and 256: poolpipe in 1 and 2 processes against aiohttp, requests, urllib3
and a bare asyncio protocol that checks nothing); then a mixed list with hanging and trickling
URLs, and the memory of a 1,000,000-URL crawl.

Run `python bench/crawl.py --help`; bench/README.md (crawl.py) says what each row measures.
Everything it contacts is the poolpipe.crawl.demosite server it starts on 127.0.0.1, or names under
.invalid, which poolpipe never looks up.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    CpuMeter,
    contention_note,
    log,
    machine,
    preload,
    process_cpu_seconds,
    relay_command,
    usage,
    wait_until_quiet,
)

BENCH_DIR = Path(__file__).resolve().parent
RECIPE_OK = re.compile(r"Successfully crawled \S+, length: (\d+)")
RECIPE_OTHER = re.compile(r"(?:Failed to crawl|Error crawling) ")
"""The article's own report lines; its workers print to one pipe, so a line's text and its
newline may arrive apart, and lines are found by pattern, not split on newlines."""

MODULES = {
    "recipe": ("requests",),
    "threads": ("requests",),
    "urllib3": ("urllib3",),
    "aiohttp": ("aiohttp", "asyncio"),
    "poolpipe1": ("poolpipe.crawl",),
    "poolpipe": ("poolpipe.crawl",),
    "bare": ("asyncio",),
}
"""What each method imports, loaded before its clock starts (imports are not crawling)."""

LABELS = {
    "recipe": "article's recipe: Pool(cpu_count).map(requests.get)",
    "threads": "threads + requests.Session per thread",
    "urllib3": "threads + one urllib3 PoolManager",
    "aiohttp": "aiohttp ClientSession, one asyncio loop",
    "poolpipe1": "poolpipe crawl, 1 process",
    "poolpipe": "poolpipe crawl",
    "bare": "bare asyncio protocol, no checks",
}


# ---- the methods, each run in a fresh interpreter -------------------------------------------


def crawl_url(url):
    """The article's worker, verbatim."""
    import requests

    try:
        response = requests.get(url)
        if response.status_code == 200:
            print(f"Successfully crawled {url}, length: {len(response.text)}")
        else:
            print(f"Failed to crawl {url}, status code: {response.status_code}")
    except Exception as e:
        print(f"Error crawling {url}: {e}")


def run_recipe(urls: list[str], args: argparse.Namespace) -> dict[str, int]:
    """The article's main: a Pool of min(cpu_count, len(urls)) processes maps crawl_url."""
    num_processes = min(multiprocessing.cpu_count(), len(urls))
    pool = multiprocessing.Pool(processes=num_processes)
    pool.map(crawl_url, urls)
    pool.close()
    pool.join()
    return {}


def run_threads(urls: list[str], args: argparse.Namespace) -> dict[str, int]:
    """A thread pool of `concurrency` threads, each with its own requests.Session."""
    import requests

    local = threading.local()
    timeout = (args.connect_timeout, args.read_timeout)

    def get(url: str) -> tuple[int, int]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            response = session.get(url, timeout=timeout)
            return response.status_code, len(response.content)
        except requests.RequestException:
            return 0, 0

    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(get, urls))
    return {
        "rows": len(results),
        "ok": sum(s == 200 for s, _ in results),
        "bytes": sum(n for s, n in results if s == 200),
    }


def run_urllib3(urls: list[str], args: argparse.Namespace) -> dict[str, int]:
    """A thread pool of `concurrency` threads sharing one urllib3 PoolManager."""
    import urllib3

    timeout = urllib3.Timeout(connect=args.connect_timeout, read=args.read_timeout)
    pool = urllib3.PoolManager(maxsize=args.concurrency, timeout=timeout, retries=False)

    def get(url: str) -> tuple[int, int]:
        try:
            response = pool.request("GET", url)
            return response.status, len(response.data)
        except urllib3.exceptions.HTTPError:
            return 0, 0

    with ThreadPoolExecutor(args.concurrency) as workers:
        results = list(workers.map(get, urls))
    return {
        "rows": len(results),
        "ok": sum(s == 200 for s, _ in results),
        "bytes": sum(n for s, n in results if s == 200),
    }


def run_aiohttp(urls: list[str], args: argparse.Namespace) -> dict[str, int]:
    """aiohttp's client: one ClientSession, at most `concurrency` requests in flight."""
    import asyncio

    import aiohttp

    async def crawl() -> list[tuple[int, int]]:
        timeout = aiohttp.ClientTimeout(
            total=args.deadline * 10, sock_connect=args.connect_timeout, sock_read=args.read_timeout
        )
        connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=args.concurrency)
        gate = asyncio.Semaphore(args.concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def get(url: str) -> tuple[int, int]:
                async with gate:
                    try:
                        async with session.get(url) as response:
                            return response.status, len(await response.read())
                    except (aiohttp.ClientError, TimeoutError):
                        return 0, 0

            return await asyncio.gather(*(get(url) for url in urls))

    results = asyncio.run(crawl())
    return {
        "rows": len(results),
        "ok": sum(s == 200 for s, _ in results),
        "bytes": sum(n for s, n in results if s == 200),
    }


def run_bare(urls: list[str], args: argparse.Namespace) -> dict[str, int]:
    """A client doing as little as one can: `concurrency` kept-alive connections, each sending
    its next GET the moment an answer's last byte lands, with nothing checked, parsed or kept
    beyond the status and the Content-Length (no robots.txt, deadline, limits, rows or hashes).
    The demo site answers every page with a Content-Length and keeps its connections open."""
    import asyncio
    from urllib.parse import urlsplit

    first = urlsplit(urls[0])
    host, port = first.hostname or "127.0.0.1", first.port or 80
    parts = [urlsplit(u) for u in urls]
    paths = [(p.path or "/") + (f"?{p.query}" if p.query else "") for p in parts]
    if any(p.netloc != first.netloc for p in parts):
        raise SystemExit("the bare client takes URLs of one host only")
    results: list[tuple[int, int]] = [(0, 0)] * len(paths)
    todo = iter(range(len(paths)))

    class Client(asyncio.Protocol):
        def __init__(self, done: asyncio.Future) -> None:
            self.done, self.buf, self.need, self.index = done, bytearray(), -1, -1
            self.status = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.ask()

        def ask(self) -> None:
            self.index = next(todo, -1)
            if self.index < 0:
                self.transport.close()
                return
            self.transport.write(
                f"GET {paths[self.index]} HTTP/1.1\r\nHost: {first.netloc}\r\n"
                "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\n\r\n".encode()
            )

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while self.index >= 0:
                if self.need < 0:
                    end = self.buf.find(b"\r\n\r\n")
                    if end < 0:
                        return
                    head = self.buf[:end].decode("latin-1").lower()
                    self.status = int(head[9:12])
                    if "content-length:" not in head:
                        raise SystemExit(f"the bare client needs a Content-Length: {head!r}")
                    length = head.split("content-length:", 1)[1].split("\r\n", 1)[0]
                    self.need = end + 4 + int(length)
                if len(self.buf) < self.need:
                    return
                results[self.index] = (self.status, self.need - self.buf.find(b"\r\n\r\n") - 4)
                del self.buf[: self.need]
                self.need = -1
                self.ask()

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.done.done():
                self.done.set_result(None)

    async def crawl() -> None:
        loop = asyncio.get_running_loop()
        done = [loop.create_future() for _ in range(min(args.concurrency, len(paths)))]
        await asyncio.gather(
            *(loop.create_connection(lambda d=d: Client(d), host, port) for d in done)
        )
        await asyncio.wait_for(asyncio.gather(*done), args.deadline * 10 + len(paths))

    asyncio.run(crawl())
    return {
        "rows": len(results),
        "ok": sum(s == 200 for s, _ in results),
        "bytes": sum(n for s, n in results if s == 200),
    }


def run_poolpipe(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """poolpipe's crawl_file: index, pool of `processes`, merge into pages.tsv."""
    from poolpipe.crawl import CrawlSettings, crawl_file

    settings = CrawlSettings(
        concurrency=args.concurrency,
        per_host=args.concurrency,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        deadline=args.deadline,
        retries=args.retries,
        backoff=args.backoff,
        robots=not args.no_robots,
    )
    out = Path(args.out) / "pages.tsv"
    summary = crawl_file(path, out=out, settings=settings, processes=args.processes)
    return {
        "rows": summary["rows"],
        "ok": summary["ok"],
        "bytes": summary["bytes"],
        "by_error": summary["by_error"],
        "max_elapsed_ms": summary["timing"]["latency_ms"].get("max", 0),
    }


def child_main(args: argparse.Namespace) -> None:
    """Run one method once in this (fresh) process; print what it measured as JSON.

    The baselines get their URLs as a list, as their recipes do; poolpipe gets the file.
    """
    preload(MODULES[args._run])
    urls: list[str] = []
    if args._run in ("recipe", "threads", "urllib3", "aiohttp", "bare"):
        with open(args.file) as fh:
            urls = [line.strip() for line in fh if line.strip()]
    # CPU is counted from here, as the clock: starting the interpreter and importing are not
    # crawling (aiohttp's import alone costs a few tenths of a second)
    before = usage()["cpu_s"]
    start = time.perf_counter()
    if args._run == "recipe":
        extra = run_recipe(urls, args)
    elif args._run == "threads":
        extra = run_threads(urls, args)
    elif args._run == "urllib3":
        extra = run_urllib3(urls, args)
    elif args._run == "aiohttp":
        extra = run_aiohttp(urls, args)
    elif args._run == "bare":
        extra = run_bare(urls, args)
    else:
        extra = run_poolpipe(args.file, args)
    seconds = time.perf_counter() - start
    used = usage()
    used["cpu_s"] -= before
    print(json.dumps({"seconds": seconds, **used, **extra}), flush=True)


# ---- the parent: server, runs, table ---------------------------------------------------------


@dataclass(kw_only=True)
class Run:
    """One run of a method in its own subprocess."""

    seconds: float
    cpu_s: float
    server_cpu_s: float
    peak_kib: int
    rows: int
    ok: int
    bytes: int
    killed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def run_once(
    method: str,
    path: Path,
    args: argparse.Namespace,
    *,
    server_pid: int | None,
    cap: float | None = None,
) -> Run:
    """Run a method in a fresh interpreter, in its own session; after cap seconds (if given)
    the whole session is killed, pool workers and all."""
    cmd = relay_command(__file__, "--_run", method, "--_file", str(path), *passthrough(args))
    before = process_cpu_seconds(server_pid) if server_pid else 0.0
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate(timeout=60)
        ok = len(RECIPE_OK.findall(stdout))
        wall = time.perf_counter() - start
        spent = process_cpu_seconds(server_pid) - before if server_pid else 0.0
        return Run(
            seconds=wall,
            cpu_s=float("nan"),
            server_cpu_s=spent,
            peak_kib=0,
            rows=ok,
            ok=ok,
            bytes=0,
            killed=True,
        )
    if proc.returncode != 0:
        sys.exit(f"{method} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    lines = stdout.strip().splitlines()
    data = json.loads(lines[-1])
    if method == "recipe":
        done = RECIPE_OK.findall(stdout)
        data["rows"] = len(done) + len(RECIPE_OTHER.findall(stdout))
        data["ok"] = len(done)
        data["bytes"] = sum(int(length) for length in done)
    extra = {k: v for k, v in data.items() if k in ("by_error", "max_elapsed_ms")}
    return Run(
        seconds=data["seconds"],
        cpu_s=data["cpu_s"],
        server_cpu_s=process_cpu_seconds(server_pid) - before if server_pid else 0.0,
        peak_kib=data["peak_kib"],
        rows=data["rows"],
        ok=data["ok"],
        bytes=data["bytes"],
        extra=extra,
    )


def passthrough(args: argparse.Namespace) -> list[str]:
    """The options a child needs."""
    out = ["--out", str(args.out), "--concurrency", str(args.concurrency)]
    out += ["--processes", str(args.processes), "--deadline", str(args.deadline)]
    out += ["--retries", str(args.retries), "--backoff", str(args.backoff)]
    out += ["--connect-timeout", str(args.connect_timeout)]
    out += ["--read-timeout", str(args.read_timeout)]
    return out + (["--no-robots"] if args.no_robots else [])


@dataclass(kw_only=True)
class Row:
    """A table row: a method's median run."""

    method: str
    label: str
    processes: int
    concurrency: int
    urls: int
    runs: list[Run]
    limit: float
    vs_recipe: float = 0.0
    vs_threads: float = 0.0
    vs_aiohttp: float = 0.0

    @property
    def best(self) -> Run:
        """The median run by seconds."""
        ordered = sorted(self.runs, key=lambda r: r.seconds)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def pages_per_s(self) -> float:
        """Pages fetched with status 200 per second, of the median run."""
        return self.best.ok / self.best.seconds

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived numbers."""
        return {
            **{k: v for k, v in asdict(self).items() if k != "runs"},
            "runs": [asdict(r) for r in self.runs],
            "median_seconds": self.best.seconds,
            "pages_per_s": self.pages_per_s,
            "fraction_of_limit": self.pages_per_s / self.limit,
        }


def measure(
    method: str,
    path: Path,
    args: argparse.Namespace,
    *,
    urls: int,
    pid: int,
    repeats: int,
    **kw: Any,
) -> Row:
    """Run a method `repeats` times."""
    runs = []
    for i in range(repeats):
        run = run_once(method, path, args, server_pid=pid)
        runs.append(run)
        log(f"  {method} run {i + 1}: {run.seconds:.2f} s, {run.ok}/{urls} pages")
    concurrency = kw.get("concurrency", args.concurrency)
    return Row(
        method=method,
        label=kw.get("label", LABELS[method]),
        processes=kw.get("processes", args.processes),
        concurrency=concurrency,
        urls=urls,
        runs=runs,
        limit=concurrency / (args.latency_ms / 1000),
    )


def table(rows: list[Row]) -> str:
    """The plain-text report table."""
    w = max(len("method"), *(len(r.label) for r in rows))
    head = (
        f"{'method':<{w}} {'procs':>5} {'conc':>4} {'URLs':>5} {'runs':>4} {'seconds':>8} "
        f"{'pages/s':>8} {'limit':>6} {'of lim':>6} {'CPU s':>6} {'CPU ms/pg':>9} "
        f"{'srv CPU s':>9} {'peak MiB':>8} {'x recipe':>8} {'x thr':>6} {'x aio':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        b = r.best
        lines.append(
            f"{r.label:<{w}} {r.processes:>5} {r.concurrency:>4} {r.urls:>5} {len(r.runs):>4} "
            f"{b.seconds:>8.2f} {r.pages_per_s:>8.0f} {r.limit:>6.0f} "
            f"{r.pages_per_s / r.limit:>6.0%} {b.cpu_s:>6.2f} {1000 * b.cpu_s / b.ok:>9.2f} "
            f"{b.server_cpu_s:>9.2f} {b.peak_kib / 1024:>8.0f} {r.vs_recipe:>8.1f} "
            f"{r.vs_threads:>6.2f} {r.vs_aiohttp:>6.2f}"
        )
    return "\n".join(lines)


def write_list(path: Path, lines: list[str]) -> Path:
    """A URL file."""
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def mixed_lines(base: str, pages: int, hangs: int) -> list[str]:
    """Pages, with hanging, trickling and flaky URLs spread among them."""
    lines = [f"{base}/page/{i}" for i in range(pages)]
    bad = [f"{base}/hang?seconds=600&n={i}" for i in range(hangs)]
    bad += [f"{base}/trickle?seconds=600&n={i}" for i in range(hangs)]
    bad += [f"{base}/trickle-headers?seconds=600&n={i}" for i in range(hangs)]
    bad += [f"{base}/flaky/mixed{i}?fails=1" for i in range(hangs)]
    step = max(1, len(lines) // (len(bad) + 1))
    for k, url in enumerate(bad):
        lines.insert((k + 1) * step + k, url)
    return lines


def mixed(args: argparse.Namespace, *, base: str, pid: int, out: Path) -> tuple[str, dict]:
    """The mixed list: poolpipe must finish within its deadline plus retries; the others are
    given --mixed-cap seconds."""
    from poolpipe.crawl import GRACE_S

    lines = mixed_lines(base, args.mixed_pages, args.hangs)
    path = write_list(out / "mixed.txt", lines)
    log(f"mixed list: {len(lines)} URLs ({3 * args.hangs} hang or trickle)...")
    pool = run_once("poolpipe", path, args, server_pid=pid, cap=args.mixed_cap)
    per_url = (args.retries + 1) * args.deadline + GRACE_S
    per_url += sum(min(args.backoff * 2**i, 30.0) for i in range(args.retries))
    pages_s = args.mixed_pages / (args.concurrency / (args.latency_ms / 1000))
    bound = per_url + 3 * pages_s
    rows = [
        ("poolpipe crawl", pool),
        ("threads + requests.Session (timeout=(connect, read))",
         run_once("threads", path, args, server_pid=pid, cap=args.mixed_cap)),
        ("article's recipe (requests.get, no timeout)",
         run_once("recipe", path, args, server_pid=pid, cap=args.mixed_cap)),
    ]  # fmt: skip
    max_elapsed = pool.extra.get("max_elapsed_ms", 0) / 1000
    ok = not pool.killed and pool.rows == len(lines) and pool.seconds <= bound
    ok = ok and max_elapsed <= per_url
    text = [
        f"mixed list: {len(lines)} URLs: {args.mixed_pages} pages, {args.hangs} that never answer,"
        f" {args.hangs} that trickle the body and {args.hangs} the headers (a byte every 0.5 s"
        f" for 600 s), {args.hangs} that fail once with 500; deadline {args.deadline:g} s,"
        f" {args.retries} retries, backoff {args.backoff:g} s",
    ]
    for label, run in rows:
        if run.killed:
            text.append(f"  {label}: killed after {args.mixed_cap:g} s, unfinished")
        else:
            text.append(
                f"  {label}: {run.seconds:.1f} s, {run.rows} of {len(lines)} rows, {run.ok} pages"
            )
    text.append(
        f"  poolpipe: slowest URL {max_elapsed:.1f} s (bound per URL: (retries+1) x deadline"
        f" + backoffs + {GRACE_S:g} s grace = {per_url:.1f} s); whole list {pool.seconds:.1f} s"
        f" (bound {bound:.1f} s); errors {pool.extra.get('by_error')}: {'OK' if ok else 'FAIL'}"
    )
    result = {
        "urls": len(lines),
        "bound_per_url_s": per_url,
        "bound_s": bound,
        "ok": ok,
        "runs": {label: asdict(run) for label, run in rows},
    }
    return "\n".join(text), result


GOAL_METHODS = ("aiohttp", "poolpipe1", "poolpipe", "threads", "urllib3", "bare")
GOAL_CPU_MS = 0.4
"""The goal: poolpipe's pages/s at least aiohttp's at each size and concurrency, at most
GOAL_CPU_MS of CPU per page, and 2 processes faster than 1 from concurrency 128."""


def goal(args: argparse.Namespace, *, base: str, pid: int, out: Path) -> tuple[str, dict]:
    """Every method at each list size and concurrency of the goal, side by side."""
    rows: list[Row] = []
    for pages in args.goal_pages:
        path = write_list(out / f"goal_{pages}.txt", [f"{base}/page/{i}" for i in range(pages)])
        for conc in args.goal_concurrency:
            at = replace_args(args, concurrency=conc)
            log(f"goal: {pages} pages at concurrency {conc}...")
            for method in GOAL_METHODS:
                procs = 2 if method == "poolpipe" else 1
                label = "poolpipe crawl, 2 processes" if method == "poolpipe" else LABELS[method]
                rows.append(
                    measure(method, path, replace_args(at, processes=procs), urls=pages, pid=pid,
                            repeats=args.goal_repeats, processes=procs, concurrency=conc,
                            label=label)
                )  # fmt: skip
    w = max(len(r.label) for r in rows)
    head = (
        f"{'pages':>6} {'conc':>4} {'method':<{w}} {'procs':>5} {'seconds':>8} {'pages/s':>8}"
        f" {'of lim':>6} {'CPU ms/pg':>9} {'x aio':>6}"
    )
    lines = [head, "-" * len(head)]
    verdicts = []
    ok = True
    for i in range(0, len(rows), len(GOAL_METHODS)):
        cell = dict(zip(GOAL_METHODS, rows[i : i + len(GOAL_METHODS)], strict=True))
        peer = cell["aiohttp"].pages_per_s
        for r in cell.values():
            r.vs_aiohttp = r.pages_per_s / peer
            b = r.best
            lines.append(
                f"{r.urls:>6} {r.concurrency:>4} {r.label:<{w}} {r.processes:>5}"
                f" {b.seconds:>8.2f} {r.pages_per_s:>8.0f} {r.pages_per_s / r.limit:>6.0%}"
                f" {1000 * b.cpu_s / max(b.ok, 1):>9.3f} {r.vs_aiohttp:>6.2f}"
            )
        one, two = cell["poolpipe1"], cell["poolpipe"]
        cpu = [1000 * r.best.cpu_s / max(r.best.ok, 1) for r in (one, two)]
        faster = max(one.vs_aiohttp, two.vs_aiohttp) >= 1.0
        lean = max(cpu) <= GOAL_CPU_MS
        split = two.pages_per_s > one.pages_per_s if one.concurrency >= 128 else True
        ok = ok and faster and lean and split
        verdicts.append(
            f"  {one.urls} pages, concurrency {one.concurrency}: x aio {one.vs_aiohttp:.2f}"
            f" (1 proc) {two.vs_aiohttp:.2f} (2 procs); CPU ms/page {cpu[0]:.3f} / {cpu[1]:.3f};"
            f" 2 procs / 1 proc {two.pages_per_s / one.pages_per_s:.2f}:"
            f" {'OK' if faster and lean and split else 'MISS'}"
        )
    lost = [
        f"  {r.label} at {r.urls} pages, concurrency {r.concurrency}: {run.ok} of {r.urls} pages"
        for r in rows
        for run in r.runs
        if run.ok != r.urls or run.bytes != r.urls * args.page_bytes
    ]
    ok = ok and not lost
    text = [
        f"goal grid: each cell the median of {args.goal_repeats} run(s), each method in a fresh"
        " process; x aio: pages/s over aiohttp's in the same cell",
        "",
        *lines,
        "",
        f"goal: poolpipe's pages/s >= aiohttp's (1 or 2 processes), CPU <= {GOAL_CPU_MS} ms per"
        " page (both), 2 processes faster than 1 from concurrency 128",
        *verdicts,
        *(["runs that lost pages:", *lost] if lost else []),
        f"goal overall: {'OK' if ok else 'MISS'}",
    ]
    return "\n".join(text), {"ok": ok, "rows": [r.to_json() for r in rows]}


def memory(args: argparse.Namespace, out: Path) -> tuple[str, dict]:
    """Peak RSS of poolpipe over M/10 and M URLs that fail without any network (.invalid)."""
    sizes = sorted({max(1, args.memory_urls // 10), args.memory_urls})
    quick = replace_args(args, no_robots=True)
    found = {}
    for n in sizes:
        path = out / f"invalid_{n}.txt"
        with open(path, "w") as fh:
            for i in range(n):
                fh.write(f"http://h{i % 1000}.invalid/p{i}\n")
        log(f"memory: {n:,} URLs...")
        run = run_once("poolpipe", path, quick, server_pid=None)
        found[n] = run
        path.unlink()
    text = "memory: poolpipe over URLs under .invalid (each goes through the whole engine and"
    text += " fails in the resolver, no network), robots off:\n"
    text += "\n".join(
        f"  {n:>9,} URLs: {r.seconds:.1f} s, {r.rows:,} rows, peak RSS {r.peak_kib / 1024:.0f} MiB"
        " (largest single process)"
        for n, r in found.items()
    )
    return text, {str(n): asdict(r) for n, r in found.items()}


def replace_args(args: argparse.Namespace, **changes: Any) -> argparse.Namespace:
    """A copy of args with some values changed."""
    return argparse.Namespace(**{**vars(args), **changes})


def bench(args: argparse.Namespace) -> int:
    """Run every method and print the table; 1 if a method missed pages."""
    from poolpipe.crawl import SiteSpec, serve

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quiet = wait_until_quiet(args.wait_quiet)
    log(f"others used {quiet:.0%} of the machine before the runs")
    spec = SiteSpec(
        pages=max([args.pages, *args.goal_pages]),
        page_bytes=args.page_bytes,
        latency=args.latency_ms / 1000,
        interval=0.5,
        hang_max=600,
        max_seconds=3600,
    )
    with serve(spec) as site:
        pid = site.pid
        if args.goal_only:
            return goal_only(args, base=site.base, pid=pid, out=out)
        pages = [f"{site.base}/page/{i}" for i in range(args.pages)]
        all_file = write_list(out / "pages.txt", pages)
        slice_file = write_list(out / "slice.txt", pages[: args.recipe_slice])
        meter = CpuMeter(also_own=lambda: process_cpu_seconds(pid))
        cpus = multiprocessing.cpu_count()
        rows = [
            measure("recipe", slice_file, args, urls=args.recipe_slice, pid=pid, repeats=1,
                    processes=cpus, concurrency=cpus,
                    label=f"{LABELS['recipe']} [{args.recipe_slice} URLs]"),
            measure("threads", all_file, args, urls=args.pages, pid=pid, repeats=args.repeats,
                    processes=1),
            measure("poolpipe1", all_file, replace_args(args, processes=1), urls=args.pages,
                    pid=pid, repeats=args.repeats, processes=1),
            measure("aiohttp", all_file, args, urls=args.pages, pid=pid, repeats=args.repeats,
                    processes=1),
            measure("poolpipe", all_file, args, urls=args.pages, pid=pid, repeats=args.repeats),
        ]  # fmt: skip
        if args.high_concurrency:
            high = replace_args(args, concurrency=args.high_concurrency)
            rows += [
                measure("aiohttp", all_file, high, urls=args.pages, pid=pid,
                        repeats=args.repeats, processes=1, concurrency=args.high_concurrency),
                measure("poolpipe1", all_file, replace_args(high, processes=1), urls=args.pages,
                        pid=pid, repeats=args.repeats, processes=1,
                        concurrency=args.high_concurrency),
                measure("poolpipe", all_file, high, urls=args.pages, pid=pid,
                        repeats=args.repeats, concurrency=args.high_concurrency),
            ]  # fmt: skip
        goal_text, goal_result = (
            goal(args, base=site.base, pid=pid, out=out) if args.goal_pages else ("", {})
        )
        others = meter.others_share()
        mixed_text, mixed_result = mixed(args, base=site.base, pid=pid, out=out)
    memory_text, memory_result = memory(args, out) if args.memory_urls else ("", {})
    recipe, threads = rows[0], rows[1]
    peers = {r.concurrency: r for r in rows if r.method == "aiohttp"}
    for row in rows:
        row.vs_recipe = row.pages_per_s / recipe.pages_per_s
        row.vs_threads = row.pages_per_s / threads.pages_per_s
        peer = peers.get(row.concurrency)
        row.vs_aiohttp = row.pages_per_s / peer.pages_per_s if peer else float("nan")
    info = machine("requests", "urllib3", "aiohttp")
    problems = [
        f"{r.label}: {r.best.ok} of {r.urls} pages, {r.best.bytes} bytes"
        for r in rows
        if any(run.ok != r.urls or run.bytes != r.urls * args.page_bytes for run in r.runs)
    ]
    report = [
        f"site: {args.pages} pages of {args.page_bytes:,} bytes, {args.latency_ms} ms each, on"
        f" 127.0.0.1 (poolpipe.crawl.demosite, one asyncio process)",
        "",
        table(rows),
        "",
        "limit: concurrency / latency, the most pages/s that many requests in flight can give;"
        " of lim: pages/s as a share of it; x recipe, x thr, x aio: pages/s over the recipe's,"
        " threads + requests' and aiohttp's (at the same concurrency)",
        "seconds: median run, each in a fresh subprocess, timed around the crawl (interpreter"
        " start and imports excluded); poolpipe's includes reading the URL file, its duplicate"
        " index and writing pages.tsv",
        "CPU s: user+system seconds of the crawling process and its children, counted as the"
        " clock is (imports excluded); srv CPU s: the"
        " site's; peak MiB: largest single process (ru_maxrss)",
        f"poolpipe: {args.processes} processes x {args.concurrency // args.processes} requests"
        f" in flight on each one's asyncio loop, per-host limit {args.concurrency}, robots.txt"
        f" {'off' if args.no_robots else 'on'}; 1 process: {args.concurrency} in one worker",
        contention_note(others),
        info["line"],
        "",
        goal_text,
        "",
        mixed_text,
        "",
        memory_text,
    ]
    print("\n".join(report))
    result = {
        "machine": info,
        "others_share": others,
        "rows": [r.to_json() for r in rows],
        "goal": goal_result,
        "mixed": mixed_result,
        "memory": memory_result,
        "problems": problems,
    }
    (out / "crawl.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    for problem in problems:
        print(f"MISMATCH: {problem}")
    return 1 if problems or not mixed_result["ok"] else 0


def goal_only(args: argparse.Namespace, *, base: str, pid: int, out: Path) -> int:
    """Only the goal grid (--goal-only): its table, the machine and its load; 1 on a miss."""
    meter = CpuMeter(also_own=lambda: process_cpu_seconds(pid))
    text, result = goal(args, base=base, pid=pid, out=out)
    others = meter.others_share()
    info = machine("requests", "urllib3", "aiohttp")
    print("\n".join([text, contention_note(others), info["line"]]))
    result = {"machine": info, "others_share": others, "goal": result}
    (out / "crawl-goal.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0 if result["goal"]["ok"] else 1


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip() and int(part)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=2000)
    p.add_argument("--page-bytes", type=int, default=10_000)
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight in all")
    p.add_argument("--high-concurrency", type=int, default=128, help="also at this (0: skip)")
    p.add_argument("--processes", type=int, default=2, help="poolpipe's worker processes")
    p.add_argument(
        "--goal-pages",
        type=_sizes,
        default="2000,20000",
        help="list sizes of the goal grid (comma-separated; 0: no grid)",
    )
    p.add_argument(
        "--goal-concurrency",
        type=_sizes,
        default="64,128,256",
        help="concurrencies of the goal grid (comma-separated)",
    )
    p.add_argument("--goal-repeats", type=int, default=1, help="runs per goal cell (median)")
    p.add_argument("--goal-only", action="store_true", help="only the goal grid")
    p.add_argument("--recipe-slice", type=int, default=200, help="URLs the article's recipe gets")
    p.add_argument("--repeats", type=int, default=3, help="runs per method (median reported)")
    p.add_argument("--deadline", type=float, default=3.0, help="poolpipe's deadline, mixed list")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--backoff", type=float, default=0.5)
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--read-timeout", type=float, default=20.0)
    p.add_argument("--no-robots", action="store_true")
    p.add_argument("--mixed-pages", type=int, default=1000)
    p.add_argument("--hangs", type=int, default=5, help="URLs of each hanging kind")
    p.add_argument("--mixed-cap", type=float, default=15.0, help="seconds before a kill")
    p.add_argument(
        "--memory-urls", type=int, default=200_000, help="0: skip; 1000000 for the million-URL run"
    )
    p.add_argument("--wait-quiet", type=float, default=120.0, help="most seconds to wait")
    p.add_argument("--out", default=str(BENCH_DIR / "out"), help="URL lists and crawl.json")
    p.add_argument("--_run", choices=sorted(LABELS), help=argparse.SUPPRESS)
    p.add_argument("--_file", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main() -> int:
    """Entry point: the benchmark, or one method's run when called with --_run."""
    args = parse_args()
    if args._run:
        args.file = args._file
        if args._run == "poolpipe1":
            args._run = "poolpipe"
        child_main(args)
        return 0
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
