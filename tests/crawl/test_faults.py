"""The crawl's fault catalogue: settings without a finite range, answers with malformed headers,
robots.txt redirected away, bytes that would break a row of pages.tsv. Each case runs through
the real `poolpipe` command (or, for the config, the real `snakemake`) and checks the exact
outcome: the exit status, one sentence and no traceback, the rows written, no partial file.

Every HTTP request goes to a poolpipe.crawl.demosite server on 127.0.0.1 (its /raw path sends
the header lines a test names, byte for byte), to one on 127.0.0.2 that the redirect tests
call public, or to a name under .invalid, never looked up. The other addresses named here
(169.254.169.254, private ranges) are only classified, never connected to.
"""

from __future__ import annotations

import errno
import json
import math
import os
import resource
import subprocess
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from warcio.archiveiterator import ArchiveIterator

from poolpipe.core.chunks import split_file
from poolpipe.core.defaults import schema_bounds
from poolpipe.crawl import PAGE_FIELDS, CrawlSettings
from poolpipe.crawl.demosite import Site, SiteSpec, serve
from poolpipe.crawl.engine import Engine, backoff
from poolpipe.crawl.fetch import FetchOutcome, declared_length, retry_after
from poolpipe.crawl.guard import is_internal
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.journal import journal_dir
from poolpipe.crawl.merge import iter_rows
from poolpipe.crawl.ranges import crawl_range, disk_full, write_failure
from poolpipe.crawl.settings import BOUNDS
from poolpipe.errors import PoolpipeError

from ..crawl_helpers import POOLPIPE, poolpipe, read_pages, site_stats
from ..helpers import namespace_allows, run_in_group, wait_until
from ..workflow_helpers import snakemake, with_sheet, workflow_copy
from .test_resume import SETTINGS as RESUME_SETTINGS
from .test_resume import kill_after as kill_job_after


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve(SiteSpec(pages=10, hang_max=30, max_seconds=600)) as running:
        yield running


# --- settings: every one has a finite range, on the command line and in the config ---------

CLI_CASES = [
    ("--deadline", "inf", "must be at most 3600, not inf"),
    ("--deadline", "nan", "must be a number more than 0 and at most 3600, not nan"),
    ("--deadline", "0", "must be more than 0, not 0"),
    ("--per-host-delay", "inf", "must be at most 60, not inf"),
    ("--per-host-delay", "1e9", "must be at most 60, not 1000000000"),
    ("--per-host-delay", "nan", "must be a number at least 0 and at most 60, not nan"),
    ("--retries", "1000", "must be at most 10, not 1000"),
    ("--retries", "-1", "must be at least 0, not -1"),
    ("--max-bytes", "1000000000000", "must be at most 1073741824, not 1000000000000"),
    ("--concurrency", "1000000", "must be at most 1024, not 1000000"),
    ("--per-host", "5000", "must be at most 1024, not 5000"),
    ("--processes", "100000", "must be at most 1024, not 100000"),
]


@pytest.mark.parametrize(("option", "value", "sentence"), CLI_CASES)
def test_a_crawl_setting_out_of_range_is_refused_before_any_work(tmp_path, option, value, sentence):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    out = tmp_path / "pages.tsv"
    run = poolpipe("crawl", str(urls), "--out", str(out), option, value)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1] == f"poolpipe crawl: error: argument {option}: {sentence}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["urls.txt"]


@pytest.mark.parametrize(
    "args",
    [
        ["sum", "IN", "--processes", "100000"],
        ["train", "IN", "--target", "y", "--chunks", "1000000000000"],
        ["tasks", "IN", "--root", ".", "--out", "o.tsv", "--processes", "5000"],
        ["double", "1", "--processes", "5000"],
    ],
)
def test_processes_and_chunks_out_of_range_are_refused(tmp_path, args):
    data = tmp_path / "in.txt"
    data.write_text("1\n")
    run = poolpipe(*[str(data) if a == "IN" else a for a in args])
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "must be at most 1024, not " in run.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        ("deadline", math.inf, "deadline must be at most 3600, not inf"),
        ("per_host_delay", math.nan, "per_host_delay must be a number at least 0 and at most 60"),
        ("backoff_max", math.nan, "backoff_max must be a number at least 0 and at most 600"),
        ("read_timeout", 1e9, "read_timeout must be at most 600, not 1000000000"),
        ("max_redirects", 10**6, "max_redirects must be at most 50, not 1000000"),
    ],
)
def test_the_library_keeps_the_same_ranges(field, value, sentence):
    with pytest.raises(PoolpipeError, match=f"^crawl settings: {sentence}"):
        CrawlSettings(**{field: value})


def test_every_crawl_number_setting_has_a_finite_maximum():
    crawl = ["concurrency", "per_host", "per_host_delay", "timeouts.connect", "timeouts.read"]
    crawl += ["timeouts.deadline", "retries.max", "retries.backoff", "retries.backoff_max"]
    crawl += ["max_bytes", "max_redirects", "chunks", "threads"]
    counts = [f"{s}.{k}" for s in ("sum", "train") for k in ("chunks", "threads")]
    settings = [f"crawl.{k}" for k in crawl] + counts + ["tasks.threads", "bench.cpu.threads"]
    for setting in settings:
        high = schema_bounds(setting).high
        assert high is not None and math.isfinite(high), setting
    assert all(schema_bounds(f"{s}.chunks").high <= 1024 for s in ("sum", "train", "crawl"))


def test_the_longest_wait_one_url_can_cause_is_finite():
    worst = CrawlSettings(**{name: bounds.high for name, bounds in BOUNDS.items()})
    assert backoff(worst, 10, math.inf) == worst.backoff_max == 600
    attempts = worst.retries + 1
    assert attempts * worst.deadline + worst.retries * worst.backoff_max == 45_600  # 12 h 40 min


@pytest.mark.parametrize(
    ("config", "key", "why"),
    [
        ({"sum": {"chunks": 1_000_000_000_000}}, "'sum.chunks'", "is out of range"),
        ({"train": {"threads": 100_000}}, "'train.threads'", "is out of range"),
        (
            {"crawl": {"timeouts": {"deadline": math.inf}}},
            "'crawl.timeouts.deadline'",
            "is not a finite number",
        ),
        ({"crawl": {"per_host_delay": 1e9}}, "'crawl.per_host_delay'", "is out of range"),
        ({"crawl": {"retries": {"max": 1000}}}, "'crawl.retries.max'", "is out of range"),
    ],
)
def test_the_schema_refuses_settings_over_their_maximum(tmp_path, config, key, why):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, config, "--dry-run")
    text = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"config key {key}: " in text and why in text
    assert "MemoryError" not in text
    assert not (workdir / "results").exists()


def test_a_nan_setting_stops_the_run_before_any_job_with_a_sentence(tmp_path):
    # JSON schema compares numbers, and nan fails no comparison: the config check refuses it.
    assert math.isnan(yaml.safe_load("x: .nan")["x"])
    own = tmp_path / "mine.txt"
    own.write_text("http://x.invalid/\n")
    workdir = workflow_copy(tmp_path / "wf")
    rows = [{"name": "mine", "stage": "crawl", "path": own, "chunks": 1}]
    config = with_sheet(workdir, rows, {"crawl": {"demo_site": False, "per_host_delay": math.nan}})
    run = snakemake(workdir, config, "results/crawl/mine/summary.json")
    assert run.returncode != 0
    sentence = "config key 'crawl.per_host_delay': nan is not a finite number (at least 0 and at"
    assert sentence in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert not (workdir / "results").exists()


# --- answers with malformed headers: a named error kind, or a good page ---------------------

DIGITS_5000 = "9" * 5000
HEADER_CASES = [
    # (query of /raw, status, bytes, error, start of detail)
    ("h=Retry-After:%B2", 200, 9, "", ""),
    ("h=Retry-After:" + DIGITS_5000, 200, 9, "", ""),
    ("h=Content-Length:%B2", 200, 9, "", ""),
    ("h=Content-Length:%D9%A3", 200, 9, "", ""),
    ("h=Content-Length:" + DIGITS_5000, 200, 0, "too_large", "Content-Length of over 18 digits"),
    ("h=Content-Length:9&h=Content-Length:10", None, 0, "bad_response", "Content-Length contai"),
    ("status=302&h=Location:http://%5B::1", 302, 0, "bad_response", "status 302 with a Location"),
    ("status=302&h=Location:http://127.0.0.1:99999/", None, 0, "invalid_url", "redirected to"),
    ("h=Bad%20Name:1&h=garbage", 200, 9, "", ""),
    ("status=abc", None, 0, "protocol", "HTTP/1.1 abc"),
    ("status=000", None, 0, "protocol", "HTTP/1.1 000"),  # no status below 100, as http.client
    ("&".join(f"h=X-{i}:1" for i in range(150)), None, 0, "protocol", "got more than 100"),
]


def test_malformed_headers_give_a_named_kind_never_internal(tmp_path, site):
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{site.base}/raw?{query}\n" for query, *_ in HEADER_CASES))
    out = tmp_path / "pages.tsv"
    # /raw closes each connection without saying so: a thread that reuses one before the
    # close reaches it gets a reset, retried once on a new connection (no case is retryable)
    run = poolpipe("crawl", str(urls), "--out", str(out), "--processes", "1", "--retries", "1")
    assert run.returncode == 0, run.stderr
    rows = read_pages(out)
    cases = list(zip(rows, HEADER_CASES, strict=True))
    got = [(r.status, r.bytes, r.error, r.detail[: len(case[4])]) for r, case in cases]
    assert got == [case[1:] for case in HEADER_CASES]
    assert "internal" not in out.read_text()


def test_a_503_with_an_unreadable_retry_after_is_retried_with_backoff(tmp_path, site):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{site.base}/raw?status=503&h=Retry-After:%B2\n")
    out = tmp_path / "pages.tsv"
    run = poolpipe("crawl", str(urls), "--out", str(out), "--processes", "1", "--retries", "1")
    assert run.returncode == 0, run.stderr
    assert [(r.status, r.attempts, r.error) for r in read_pages(out)] == [(503, 2, "")]


def test_header_values_are_read_as_ascii_digits_only():
    assert retry_after("\xb2") is None and retry_after("\u0663") is None
    assert retry_after(DIGITS_5000) == math.inf
    assert declared_length("\xb2") is None and declared_length("-5") is None
    assert declared_length(" 0042 ") == 42
    assert declared_length(DIGITS_5000) == 10**18


# --- robots.txt redirected somewhere that cannot be fetched: unavailable, so allowed --------


@pytest.mark.parametrize("location", ["file:///etc/passwd", "http://[::1", "/robots.txt"])
def test_robots_redirected_away_counts_as_unavailable(tmp_path, location):
    with serve(SiteSpec(pages=5, max_seconds=300, robots_location=location)) as robots_site:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{robots_site.base}/page/1\n{robots_site.base}/private/x\n")
        out = tmp_path / "pages.tsv"
        run = poolpipe("crawl", str(urls), "--out", str(out), "--processes", "1")
    assert run.returncode == 0, run.stderr
    assert [(r.status, r.error) for r in read_pages(out)] == [(200, ""), (200, "")]


# --- bytes that would break a row --------------------------------------------------------


def test_a_nul_byte_is_escaped_in_pages_tsv(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_bytes(b"http://x.invalid/a\x00b\nhttp://y.invalid/\tc\r\n")
    out = tmp_path / "pages.tsv"
    run = poolpipe("crawl", str(urls), "--out", str(out), "--processes", "1")
    assert run.returncode == 0, run.stderr
    data = out.read_bytes()
    assert b"\x00" not in data and b"a\\0b" in data
    assert data.count(b"\n") == 3
    assert [r.url for r in read_pages(out)] == ["http://x.invalid/a\x00b", "http://y.invalid/\tc"]


# --- an output that is an input, or another output: refused before any work --------------


def _overlap_cases(tmp_path):
    """(arguments after `crawl`, the one sentence) for each way an output can hit an input."""
    urls = tmp_path / "urls.txt"
    previous = tmp_path / "previous.tsv"
    out = tmp_path / "pages.tsv"
    link = tmp_path / "link.txt"
    link.symlink_to(urls)
    hard = tmp_path / "hard.txt"
    os.link(urls, hard)
    folder = tmp_path / "through"
    folder.symlink_to(tmp_path)
    u, o = str(urls), str(out)
    same = "is the same file as URLFILE"
    return [
        ([u, "--out", u], f"--out {u!r} {same} {u!r}: choose another path"),
        ([u, "--out", o, "--summary", u], f"--summary {u!r} {same} {u!r}: choose another path"),
        ([u, "--out", o, "--timing", u], f"--timing {u!r} {same} {u!r}: choose another path"),
        ([u, "--out", str(link)], f"--out {str(link)!r} {same} {u!r}: choose another path"),
        ([u, "--out", str(hard)], f"--out {str(hard)!r} {same} {u!r}: choose another path"),
        (
            [u, "--out", str(folder / "urls.txt")],
            f"--out {str(folder / 'urls.txt')!r} {same} {u!r}: choose another path",
        ),
        (
            [u, "--out", o, "--summary", o],
            f"--summary {o!r} is the same file as --out {o!r}: choose another path",
        ),
        (
            [u, "--out", o, "--summary", str(tmp_path / "s.json"), "--timing", "s.json"],
            None,  # a relative path naming the same file as an absolute one
        ),
        (
            [u, "--out", str(previous), "--previous", str(previous)],
            f"--out {str(previous)!r} is the same file as --previous {str(previous)!r}: "
            "choose another path",
        ),
        (
            [str(tmp_path / "pages.warc.gz"), "--out", o, "--store", "warc"],
            f"the WARC file {str(tmp_path / 'pages.warc.gz')!r} is the same file as URLFILE "
            f"{str(tmp_path / 'pages.warc.gz')!r}: choose another path",
        ),
    ]


OVERLAPS = 10


@pytest.mark.parametrize("case", range(OVERLAPS))
def test_an_output_that_is_an_input_or_another_output_is_refused(tmp_path, case):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    (tmp_path / "previous.tsv").write_text("\t".join(PAGE_FIELDS) + "\n")
    (tmp_path / "pages.warc.gz").write_text("http://x.invalid/\n")
    cases = _overlap_cases(tmp_path)
    assert len(cases) == OVERLAPS
    args, sentence = cases[case]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    run = subprocess.run(
        [POOLPIPE, "crawl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    if sentence is None:
        assert "is the same file as --summary" in run.stderr
    else:
        assert run.stderr == f"poolpipe: error: {sentence}\n"
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before
    assert not list(tmp_path.glob("*.journal")) and not list(tmp_path.glob(".*"))


# --- files that never end: --previous is a regular file, read with a bound -----------------


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "sparse", "folder"])
def test_a_previous_that_never_ends_is_one_sentence_at_once(tmp_path, kind):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    previous = tmp_path / "previous.tsv"
    if kind == "fifo":
        os.mkfifo(previous)
    elif kind == "sparse":
        with open(previous, "wb") as fh:
            fh.truncate(2 << 30)
    elif kind == "folder":
        previous.mkdir()
    else:
        previous = Path("/dev/zero")
    out = tmp_path / "pages.tsv"
    run = poolpipe("crawl", str(urls), "--out", str(out), "--previous", str(previous), timeout=60)
    expected = {
        "fifo": f"crawl.previous {previous} is not a regular file",
        "dev-zero": "crawl.previous /dev/zero is not a regular file",
        "sparse": f"crawl.previous {previous} line 1 is longer than 1,048,576 characters: "
        "it is not a pages.tsv",
        "folder": f"crawl.previous {previous} is not a regular file",
    }[kind]
    assert run.returncode == 1, run.stderr
    assert run.stderr == f"poolpipe: error: {expected}\n"
    assert not out.exists() and not journal_dir(out).exists()


# --- a full disk or a file-size limit: one sentence, nothing left under any name -----------


def _file_limit(size: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


@pytest.mark.parametrize("store", ["none", "warc"])
def test_a_file_size_limit_is_one_sentence_and_leaves_no_partial_file(tmp_path, site, store):
    urls = tmp_path / "urls.txt"
    lines = [f"{site.base}/page/{i % 10}?limit-{store}-{i}" for i in range(300)]
    urls.write_text("".join(f"{line}\n" for line in lines))
    out = tmp_path / "out" / "pages.tsv"
    run = subprocess.run(
        [POOLPIPE, "crawl", str(urls), "--out", str(out), "--processes", "2", "--store", store],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_file_limit(48 << 10),
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr == (
        f"poolpipe: error: the crawl cannot write {str(out)!r} or its journal: File too "
        "large; nothing of it was kept (free some space or raise the limit, then run it again)\n"
    )
    assert list(out.parent.iterdir()) == []


@pytest.mark.skipif(
    not namespace_allows("mount -t tmpfs -o size=64k tmpfs /mnt"),
    reason="needs unshare and a tmpfs mount",
)
@pytest.mark.parametrize("store", ["none", "warc", "spool"])
def test_a_full_disk_is_one_sentence_and_leaves_no_partial_file(tmp_path, site, store):
    # a 96 KiB tmpfs mounted in a mount namespace of the test's own: it is full long before
    # the crawl's journal, pages.tsv or WARC file is complete (spool: a 4 MiB body of the
    # WARC store, spooled beside the job's WARC file, fills it)
    urls = tmp_path / "urls.txt"
    lines = [f"{site.base}/page/{i % 10}?full-{store}-{i}" for i in range(300)]
    if store == "spool":
        lines = [f"{site.base}/gzip?bytes={4 << 20}", *lines[:3]]
    urls.write_text("".join(f"{line}\n" for line in lines))
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "pages.tsv"
    warc = "warc" if store == "spool" else store
    crawl = f"{POOLPIPE} crawl {urls} --out {out} --processes 2 --store {warc}"
    script = f"mount -t tmpfs -o size=96k tmpfs {disk} && {crawl}; echo rc=$?; ls -A {disk}"
    # in a process group of its own: past the timeout, the crawl under unshare is killed too
    run = run_in_group(["unshare", "-rm", "sh", "-c", script])
    assert run.stderr == (
        f"poolpipe: error: the crawl cannot write {str(out)!r} or its journal: No space left "
        "on device; nothing of it was kept (free some space or raise the limit, then run it "
        "again)\n"
    )
    assert run.stdout == "rc=1\n"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_a_full_disk_in_a_worker_or_an_atomic_write_is_one_sentence(code):
    inner = OSError(code, os.strerror(code))
    try:
        try:
            raise inner
        except OSError:
            raise PoolpipeError("'x' cannot be written") from None
    except PoolpipeError as hidden:
        wrapped = hidden
    for exc in (inner, wrapped):
        assert disk_full(exc)
        sentence = str(write_failure("pages.tsv", exc))
        assert sentence.startswith(
            f"the crawl cannot write 'pages.tsv' or its journal: {inner.strerror};"
        )
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))


# --- resume across a change the file's size and mtime do not show -------------------------


def test_a_journal_is_not_resumed_after_a_url_in_the_middle_changed_in_place(tmp_path, site):
    urls = tmp_path / "urls.txt"
    lines = [f"{site.base}/page/{i % 10}?inplace-{i:03d}" for i in range(60)]
    urls.write_text("".join(f"{line}\n" for line in lines))
    out = tmp_path / "part.jsonl"
    kept = kill_job_after(urls, out, 30)
    middle = sorted(r.line for r in kept)[len(kept) // 2]
    info = urls.stat()
    edited = lines[:]
    edited[middle - 1] = edited[middle - 1].replace("?inplace-", "?changed-")
    urls.write_text("".join(f"{line}\n" for line in edited))
    os.utime(urls, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert urls.stat().st_size == info.st_size and urls.stat().st_mtime_ns == info.st_mtime_ns
    crawl_range(split_file(urls, 1)[0], RESUME_SETTINGS, processes=2, out=out)
    rows = list(iter_rows([out]))
    assert [r.url for r in rows] == edited
    assert rows[middle - 1].status == 200


# --- the crawler's own errors -------------------------------------------------------------


def test_a_server_closing_kept_alive_connections_gives_no_spurious_rows(tmp_path, site):
    # /raw answers and closes without Connection: close, as a server at its keep-alive
    # timeout does; redirects among /raw reuse (and find closed) the connection of the hop
    # before. A request that meets a closed connection is sent again on a new one.
    lines = []
    for n in range(30):
        end = f"/raw?n={n}-end"
        hop = "/raw?status=302&h=" + quote("Location:" + end, safe="")
        lines.append(
            f"{site.base}/raw?status=302&h=" + quote("Location:" + hop, safe="") + f"&n={n}"
        )
        lines.append(f"{site.base}/raw?n={n}")
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{line}\n" for line in lines))
    for concurrency in ("1", "4"):
        out = tmp_path / f"pages-{concurrency}.tsv"
        run = poolpipe(
            "crawl", str(urls), "--out", str(out), "--retries", "0", "--processes", "1",
            "--concurrency", concurrency,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        rows = read_pages(out)
        assert [(r.status, r.error) for r in rows] == [(200, "")] * len(lines)
        assert all(r.attempts == 1 for r in rows)


@pytest.mark.parametrize(
    ("agent", "shown"),
    [("poolpipe\r\nX-Evil: 1", "'\\r'"), ("bot\n", "'\\n'"), ("robot \u03a9", "'\u03a9'")],
)
def test_a_user_agent_that_cannot_be_a_header_is_refused_up_front(tmp_path, agent, shown):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    run = poolpipe("crawl", str(urls), "--out", str(tmp_path / "p.tsv"), "--user-agent", agent)
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == (
        f"poolpipe crawl: error: argument --user-agent: must be printable Latin-1 text on one "
        f"line, and {shown} is not (an HTTP header cannot carry it)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["urls.txt"]
    with pytest.raises(PoolpipeError, match=r"^crawl settings: user_agent must be printable"):
        CrawlSettings(user_agent=agent)


def test_the_warc_store_streams_a_compression_bomb_instead_of_holding_it(tmp_path, site):
    size = 48 << 20
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{site.base}/gzip?bytes={size}\n")
    settings = CrawlSettings(store="warc", max_bytes=64 << 20, deadline=60.0, retries=0)
    out = tmp_path / "part.jsonl"
    tracemalloc.start()
    try:
        crawl_range(split_file(urls, 1)[0], settings, processes=1, out=out, serial=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [row] = iter_rows([out])
    assert (row.status, row.bytes, row.error) == (200, size, "")
    assert peak < size // 8, f"{peak} bytes held at once for a {size}-byte body"
    with open(tmp_path / "part.warc.gz", "rb") as fh:
        [record] = list(ArchiveIterator(fh))
        assert record.rec_headers.get_header("WARC-Target-URI").endswith(f"bytes={size}")
        assert record.http_headers.get_header("Content-Length") == str(size)


# --- a redirect into the machine's own networks (server-side request forgery) -------------


@pytest.fixture(scope="module")
def inside() -> Iterator[Site]:
    """A site on 127.0.0.1: the internal network of these tests."""
    with serve(SiteSpec(pages=10, max_seconds=600)) as running:
        yield running


@pytest.fixture(scope="module")
def public() -> Iterator[Site]:
    """A site on 127.0.0.2, which these tests call public."""
    with serve(SiteSpec(pages=10, max_seconds=600), host="127.0.0.2") as running:
        yield running


SSRF = CrawlSettings(
    internal_networks=("127.0.0.1/32", "::1/128"), deadline=10.0, retries=0, robots=False
)


def ssrf_cases(inside: Site) -> list[tuple[str, str]]:
    """(where a public page redirects, the address refused) for each spelling of inside."""
    port = inside.port
    return [
        (f"http://127.0.0.1:{port}/page/1", "127.0.0.1 is an internal address"),
        (f"http://[::1]:{port}/page/1", "::1 is an internal address"),
        (f"http://2130706433:{port}/page/1", "2130706433 is at 127.0.0.1, an internal address"),
        (f"http://inside.test:{port}/page/1", "inside.test is at 127.0.0.1, an internal address"),
    ]


def test_a_redirect_from_a_public_address_into_an_internal_one_is_refused(tmp_path, inside, public):
    cases = ssrf_cases(inside)
    lines = [f"{public.base}/redirect-to?url={quote(target, safe='')}" for target, _ in cases]
    lines.append(f"{inside.base}/page/2")  # listed by the user: fetched
    lines.append(f"{inside.base}/redirect-to?url={quote(inside.base + '/page/3', safe='')}")
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{line}\n" for line in lines))
    before = site_stats(inside)["hits"]
    settings = SSRF.with_hosts({"inside.test": f"127.0.0.1:{inside.port}"})
    out = tmp_path / "part.jsonl"
    crawl_range(split_file(urls, 1)[0], settings, processes=1, out=out)
    rows = list(iter_rows([out]))
    for row, (target, why) in zip(rows, cases, strict=False):
        assert (row.status, row.error, row.final_url) == (None, "internal_redirect", target)
        assert row.detail == f"redirected from 127.0.0.2 to {target}: {why}"
    assert [(r.status, r.error) for r in rows[len(cases) :]] == [(200, ""), (200, "")]
    hits = site_stats(inside)["hits"]
    assert hits.get("/page/1", 0) == before.get("/page/1", 0), "an internal page was fetched"


def test_robots_txt_redirected_into_an_internal_address_is_unavailable(tmp_path, inside):
    robots = f"http://127.0.0.1:{inside.port}/robots.txt"
    before = site_stats(inside)["hits"].get("/robots.txt", 0)
    spec = SiteSpec(pages=10, max_seconds=300, robots_location=robots)
    with serve(spec, host="127.0.0.2") as public:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{public.base}/page/1\n{public.base}/private/x\n")
        out = tmp_path / "part.jsonl"
        crawl_range(split_file(urls, 1)[0], replace(SSRF, robots=True), processes=1, out=out)
    assert [(r.status, r.error) for r in iter_rows([out])] == [(200, ""), (200, "")]
    assert site_stats(inside)["hits"].get("/robots.txt", 0) == before


def test_internal_redirects_can_be_allowed(tmp_path, inside, public):
    target = f"http://127.0.0.1:{inside.port}/page/4"
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{public.base}/redirect-to?url={quote(target, safe='')}\n")
    out = tmp_path / "part.jsonl"
    settings = replace(SSRF, internal_redirects=True)
    crawl_range(split_file(urls, 1)[0], settings, processes=1, out=out)
    assert [(r.status, r.final_url) for r in iter_rows([out])] == [(200, target)]


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
     "100.64.0.1", "0.0.0.0", "::1", "::", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
     "::ffff:169.254.169.254"],
)  # fmt: skip
def test_the_default_internal_networks_hold_loopback_private_and_link_local(address):
    # no traffic: the address is only classified
    assert is_internal(address, CrawlSettings().networks())


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1", "8.8.8.8"])
def test_public_addresses_are_not_internal(address):
    assert not is_internal(address, CrawlSettings().networks())


def test_an_internal_network_that_is_not_a_range_is_refused():
    with pytest.raises(PoolpipeError, match="internal_networks: 'ten' is not an address range"):
        CrawlSettings(internal_networks=("ten",))


def test_a_user_agent_that_cannot_be_a_header_is_refused_by_the_schema(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, {"crawl": {"user_agent": "bot\r\nX-Evil: 1"}}, "--dry-run")
    text = run.stdout + run.stderr
    assert run.returncode != 0
    assert "config key 'crawl.user_agent': " in text and "does not allow" in text
    assert not (workdir / "results").exists()


def test_the_command_can_allow_internal_redirects(tmp_path):
    # the command's setting, seen in its summary (its effect is tested above: the command
    # has no option to call a loopback address public, so it cannot be shown on loopback)
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    for option, allowed in (([], False), (["--internal-redirects"], True)):
        out = tmp_path / f"pages{len(option)}.tsv"
        run = poolpipe("crawl", str(urls), "--out", str(out), *option)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["settings"]["internal_redirects"] is allowed


class _SpoolFull:
    """A fetcher whose every attempt finds the WARC spool's disk full."""

    def attempt(self, url: str, guard) -> FetchOutcome:
        return FetchOutcome(final_url=url, fatal=OSError(errno.ENOSPC, "No space left on device"))

    def close(self) -> None:
        pass


def test_a_full_spool_stops_the_job_instead_of_making_rows():
    engine = Engine(CrawlSettings(), threads=2, limiter=HostLimiter(2), fetcher=_SpoolFull)
    rows = engine.run([(1, "http://x.invalid/a"), (2, "http://x.invalid/b")])
    with pytest.raises(OSError, match="No space left on device"):
        list(rows)


# --- two crawls on one output -----------------------------------------------------------------


def test_a_second_crawl_on_the_same_output_is_refused_while_the_first_runs(tmp_path, site):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{site.base}/hang?seconds=8\n{site.base}/page/1\n")  # 8 s: time to look
    out = tmp_path / "pages.tsv"
    first = subprocess.Popen(
        [POOLPIPE, "crawl", str(urls), "--out", str(out), "--processes", "1", "--retries", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the first crawl holds its journal once its parts are there
        journal = tmp_path / "pages.tsv.journal"
        assert wait_until(lambda: any(journal.glob("part.jsonl.journal/*")), timeout=60)
        for restart in ([], ["--restart"]):
            second = poolpipe("crawl", str(urls), "--out", str(out), *restart)
            assert second.returncode == 1 and second.stderr == (
                f"poolpipe: error: another crawl is writing {str(out)!r} (its journal "
                f"{str(journal)!r} is in use): let it finish or choose another --out\n"
            )
        _, stderr = first.communicate(timeout=60)
    finally:
        first.kill()
        first.wait(timeout=30)
    assert first.returncode == 0, stderr
    assert [r.line for r in read_pages(out)] == [1, 2] and read_pages(out)[1].status == 200


def test_a_user_agent_starting_with_a_space_is_refused_it_names_no_robot():
    with pytest.raises(PoolpipeError, match=r"user_agent must not start with a space"):
        CrawlSettings(user_agent=" poolpipe")
    assert CrawlSettings(user_agent="poolpipe 1.0").user_agent == "poolpipe 1.0"
