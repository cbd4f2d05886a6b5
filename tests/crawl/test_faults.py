"""The crawl's fault catalogue: settings without a finite range, answers with malformed headers,
robots.txt redirected away, bytes that would break a row of pages.tsv. Each case runs through
the real `poolpipe` command (or, for the config, the real `snakemake`) and checks the exact
outcome: the exit status, one sentence and no traceback, the rows written, no partial file.

Every HTTP request goes to a poolpipe.crawl.demosite server on 127.0.0.1 (its /raw path sends
the header lines a test names, byte for byte) or to a name under .invalid, never looked up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import yaml

from poolpipe.core.defaults import schema_bounds
from poolpipe.crawl import CrawlSettings
from poolpipe.crawl.demosite import Site, SiteSpec, serve
from poolpipe.crawl.engine import backoff
from poolpipe.crawl.fetch import declared_length, retry_after
from poolpipe.crawl.settings import BOUNDS
from poolpipe.errors import PoolpipeError

from ..crawl_helpers import poolpipe, read_pages
from ..workflow_helpers import snakemake, with_sheet, workflow_copy


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
    ("config", "key"),
    [
        ({"sum": {"chunks": 1_000_000_000_000}}, "'sum.chunks'"),
        ({"train": {"threads": 100_000}}, "'train.threads'"),
        ({"crawl": {"timeouts": {"deadline": math.inf}}}, "'crawl.timeouts.deadline'"),
        ({"crawl": {"per_host_delay": 1e9}}, "'crawl.per_host_delay'"),
        ({"crawl": {"retries": {"max": 1000}}}, "'crawl.retries.max'"),
    ],
)
def test_the_schema_refuses_settings_over_their_maximum(tmp_path, config, key):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, config, "--dry-run")
    text = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"config key {key}: " in text and "is out of range" in text
    assert "MemoryError" not in text
    assert not (workdir / "results").exists()


def test_a_nan_setting_passes_the_schema_but_stops_the_crawl_job_with_a_sentence(tmp_path):
    # JSON schema compares numbers, and nan fails no comparison: CrawlSettings refuses it.
    assert math.isnan(yaml.safe_load("x: .nan")["x"])
    own = tmp_path / "mine.txt"
    own.write_text("http://x.invalid/\n")
    workdir = workflow_copy(tmp_path / "wf")
    rows = [{"name": "mine", "stage": "crawl", "path": own, "chunks": 1}]
    config = with_sheet(workdir, rows, {"crawl": {"demo_site": False, "per_host_delay": math.nan}})
    run = snakemake(workdir, config, "results/crawl/mine/summary.json")
    assert run.returncode != 0
    sentence = "crawl settings: per_host_delay must be a number at least 0 and at most 60, not nan"
    assert sentence in run.stdout + run.stderr
    assert not (workdir / "results/crawl/mine/parts/0.jsonl").exists()
    assert not (workdir / "results/crawl/mine/pages.tsv").exists()


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
