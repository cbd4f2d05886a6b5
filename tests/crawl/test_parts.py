"""The crawl stage's parts on their own: URL file index, resolver, guard, limiter, settings."""

from __future__ import annotations

import email.utils
import socket
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from poolpipe.core.chunks import Range
from poolpipe.core.tsv import field as tsv_field
from poolpipe.core.tsv import line as tsv_line
from poolpipe.crawl import merge, urlfile
from poolpipe.crawl.engine import iter_items
from poolpipe.crawl.fetch import check_url, classify_error, retry_after
from poolpipe.crawl.guard import Guard, Resolver
from poolpipe.crawl.hostlimit import HostLimiter
from poolpipe.crawl.merge import page_line, page_lines, write_pages, write_parts
from poolpipe.crawl.rows import PAGE_FIELDS, PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import index_urls, read_duplicates
from poolpipe.errors import PoolpipeError

ROOT = Path(__file__).resolve().parents[2]


def _defaults(schema: dict) -> dict:
    """The config a schema's defaults make, recursively."""
    out = {}
    for key, prop in schema.get("properties", {}).items():
        if prop.get("type") == "object":
            out[key] = _defaults(prop)
        elif "default" in prop:
            out[key] = prop["default"]
    return out


def test_settings_defaults_are_the_schema_defaults():
    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    from_schema = CrawlSettings.from_config(_defaults(schema)["crawl"])
    assert from_schema == CrawlSettings()
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert CrawlSettings.from_config(config["crawl"]) == CrawlSettings()


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"concurrency": 0}, "concurrency must be at least 1, not 0"),
        ({"deadline": 0.0}, "deadline must be more than 0, not 0"),
        ({"schemes": ("http", "file")}, "scheme 'file' cannot be crawled"),
    ],
)
def test_bad_settings_are_one_sentence(change, sentence):
    with pytest.raises(PoolpipeError, match=sentence):
        CrawlSettings(**change)


def _write(tmp_path: Path, text: bytes) -> Path:
    path = tmp_path / "urls.txt"
    path.write_bytes(text)
    return path


def test_index_counts_every_kind_of_line_and_finds_repeats(tmp_path):
    path = _write(
        tmp_path,
        b"# head\nhttp://a/\n\n  http://b/ \r\nhttp://a/\n#x\nhttp://b/\n\t\nhttp://A/\nhttp://a/",
    )
    index = index_urls(path, tmp_path / "d.tsv")
    assert index == urlfile.UrlIndex(lines=10, urls=6, blank_lines=2, comment_lines=2, duplicates=3)
    assert list(read_duplicates(tmp_path / "d.tsv")) == [(5, 2), (7, 4), (10, 2)]
    assert list(read_duplicates(tmp_path / "d.tsv", start=6)) == [(7, 4), (10, 2)]


def test_a_byte_order_mark_before_the_first_url_is_not_part_of_it(tmp_path):
    path = _write(tmp_path, b"\xef\xbb\xbfhttp://a/\nhttp://a/\n")
    index = index_urls(path, tmp_path / "d.tsv")
    assert (index.urls, index.duplicates) == (2, 1)  # the same URL twice, the mark aside
    whole = urlfile.Range(str(path), 0, path.stat().st_size)
    assert [text for _, _, text in urlfile.iter_lines(whole, 1)] == [b"http://a/", b"http://a/"]


def test_repeats_are_exact_even_when_every_hash_collides(tmp_path, monkeypatch):
    monkeypatch.setattr(urlfile, "hash", lambda _text: 7, raising=False)
    path = _write(tmp_path, b"http://a/\nhttp://b/\nhttp://a/\nhttp://c/\nhttp://b/\n")
    index = index_urls(path, tmp_path / "d.tsv")
    assert index.duplicates == 2
    assert list(read_duplicates(tmp_path / "d.tsv")) == [(3, 1), (5, 2)]


@given(st.lists(st.sampled_from(["http://a/", "http://b/", "", "#c", " http://a/", "x"])))
def test_index_matches_a_plain_reference(tmp_path_factory, lines):
    tmp = tmp_path_factory.mktemp("idx")
    path = _write(tmp, "\n".join(lines).encode())
    index = index_urls(path, tmp / "d.tsv")
    seen: dict[str, int] = {}
    want = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            first = seen.setdefault(text, number)
            if first != number:
                want.append((number, first))
    assert list(read_duplicates(tmp / "d.tsv")) == want
    assert index.duplicates == len(want)


def test_iter_items_gives_rows_for_lines_that_cannot_be_fetched(tmp_path):
    path = _write(tmp_path, b"http://a/\n" + b"x" * 300 + b"\nhttp://\xff/\nhttp://a/\nhttp://b/\n")
    index_urls(path, tmp_path / "d.tsv")
    rng = Range(str(path), 0, path.stat().st_size)
    items = list(iter_items(rng, first_line=1, duplicates=str(tmp_path / "d.tsv"), block_size=64))
    assert items[0] == (1, "http://a/")
    assert isinstance(items[1], PageRow) and items[1].error == "invalid_url" and items[1].line == 2
    assert items[2] == PageRow(line=3, url="http://\\xff/", error="invalid_url", detail="not UTF-8")
    assert items[3] == PageRow(
        line=4, url="http://a/", error="duplicate", detail="same URL as line 1"
    )
    assert items[4] == (5, "http://b/")


def test_resolver_sends_fixed_names_and_never_looks_up_invalid(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no lookup expected")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    resolver = Resolver((("demo.example", "127.0.0.1:8080"), ("six.example", "[::1]:81")))
    assert resolver.resolve("Demo.Example.", 80) == [(socket.AF_INET, ("127.0.0.1", 8080))]
    assert resolver.resolve("six.example", 80) == [(socket.AF_INET6, ("::1", 81))]
    assert resolver.resolve("127.0.0.1", 9) == [(socket.AF_INET, ("127.0.0.1", 9))]
    assert resolver.resolve("[::1]", 9) == [(socket.AF_INET6, ("::1", 9))]
    for name in ("x.invalid", "a.b.INVALID", "invalid"):
        with pytest.raises(socket.gaierror):
            resolver.resolve(name, 80)


def test_guard_cut_unblocks_a_read_at_once():
    left, right = socket.socketpair()
    guard = Guard(0.0, Resolver())
    guard.register(left)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(left.recv(10)))
    reader.start()
    right.sendall(b"a")
    reader.join(timeout=10)
    reader = threading.Thread(target=lambda: got.append(left.recv(10)))
    reader.start()
    guard.cut()
    reader.join(timeout=10)
    assert not reader.is_alive() and got == [b"a", b""]
    assert guard.finish() is True
    late, other = socket.socketpair()
    guard.register(late)
    other.sendall(b"b")
    assert late.recv(10) == b"b", "a finished guard leaves new sockets alone"
    for s in (left, right, late, other):
        s.close()


def test_guard_shuts_sockets_registered_after_the_cut():
    a, b = socket.socketpair()
    guard = Guard(0.0, Resolver())
    guard.cut()
    guard.register(a)
    a.settimeout(5)
    assert a.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        b.sendall(b"data")
    a.close()
    b.close()


def test_host_limiter_counts_and_spaces():
    limiter = HostLimiter(per_host=2, delay=0.0, stripes=64)
    slot = limiter.slot("example.org")
    assert limiter.try_acquire(slot) == 0.0
    assert limiter.try_acquire(slot) == 0.0
    assert limiter.try_acquire(slot) > 0
    limiter.release(slot)
    assert limiter.in_flight(slot) == 1
    assert limiter.try_acquire(slot) == 0.0
    spaced = HostLimiter(per_host=5, delay=60.0)
    other = spaced.slot("b.example")
    assert spaced.try_acquire(other) == 0.0
    wait = spaced.try_acquire(other)
    assert 59 < wait <= 60


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://a.example/x", ""),
        ("HTTPS://A.example:8443/", ""),
        ("file:///etc/passwd", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("a.example/x", "invalid_url"),
        ("http://", "invalid_url"),
        ("http://a.example:99999/", "invalid_url"),
        ("http://exa mple/", "invalid_url"),
    ],
)
def test_check_url(url, kind):
    parsed, bad = check_url(url, ("http", "https"))
    assert (bad.error if bad else "") == kind
    assert (parsed is None) == bool(kind)


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://a.example:99999/", "port 99999 is over 65535"),
        ("https://u:p@a.example:123456", "port 123456 is over 65535"),
        ("http://a.example:x/", "port 'x' is not a number"),
        ("http://a.example:-1/", "port '-1' is not a number"),
        ("http://[::1]:70000/", "port 70000 is over 65535"),
        ("http://[::1/", "Failed to parse: '[::1' is not a valid host or port"),  # urllib3's
        ("http://a.example/p\x00x", "it holds '\\x00' (U+0000), which no URL may"),
        (
            "\ufeffhttp://a.example/",
            "it holds '\\ufeff' (ZERO WIDTH NO-BREAK SPACE), which no URL may",
        ),
    ],
)
def test_a_bad_port_or_character_is_named_in_the_row(url, detail):
    parsed, bad = check_url(url, ("http", "https"))
    assert parsed is None and bad is not None
    assert (bad.error, bad.detail) == ("invalid_url", detail)


def test_retry_after_forms():
    assert retry_after("7") == 7.0
    assert retry_after(" 0 ") == 0.0
    now = 1_700_000_000.0
    assert retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_classify_names_each_failure():
    refused = NewConnectionError(None, "x")
    refused.__cause__ = ConnectionRefusedError()
    unknown = NameResolutionError("h", None, socket.gaierror(socket.EAI_NONAME, "x"))
    unknown.__cause__ = socket.gaierror(socket.EAI_NONAME, "x")
    busy = NameResolutionError("h", None, socket.gaierror(socket.EAI_AGAIN, "x"))
    busy.__cause__ = socket.gaierror(socket.EAI_AGAIN, "x")
    cases = {
        "refused": refused,
        "dns": unknown,
        "dns_temporary": busy,
        "connect_timeout": ConnectTimeoutError(None, "x"),
        "read_timeout": ReadTimeoutError(None, "/", "x"),
        "protocol": ProtocolError("bad", ValueError("x")),
        "internal": RuntimeError("x"),
    }
    assert {kind: classify_error(exc).error for kind, exc in cases.items()} == {k: k for k in cases}
    assert classify_error(ProtocolError("reset", ConnectionResetError())).error == "connection"
    retried = {k for k, exc in cases.items() if classify_error(exc).retryable}
    assert retried == {"refused", "dns_temporary", "connect_timeout"}


def test_tsv_fields_escape_what_would_break_a_row(tmp_path):
    assert tsv_field(None) == ""
    assert tsv_field("a\tb\nc\\d\r") == "a\\tb\\nc\\\\d\\r"
    rows = [PageRow(line=1, url="http://a/\tb"), PageRow(line=3, url="http://c/")]
    tally = write_pages(tmp_path / "p.tsv", rows, expected=2)
    assert tally.rows == 2
    assert (tmp_path / "p.tsv").read_text().count("\n") == 3


_TEXT = st.text(alphabet=st.sampled_from("ab\t\n\r\\\0é/"), max_size=6)
_VALUE = st.one_of(st.none(), st.integers(-5, 10**12), _TEXT)
_ODD = st.one_of(st.booleans(), st.floats(), st.tuples(_TEXT))


@given(
    st.lists(_VALUE, min_size=len(PAGE_FIELDS), max_size=len(PAGE_FIELDS)),
    st.integers(0, len(PAGE_FIELDS) - 1),
    _ODD,
)
def test_a_pages_line_is_the_tsv_line_of_its_values(values, at, odd):
    assert page_line(values) == tsv_line(values)
    values[at] = odd  # a value of another kind
    assert page_line(values) == tsv_line(values)
    values.append("")  # one too many
    assert page_line(values) == tsv_line(values)


_PLAIN_TEXT = st.text(alphabet=st.sampled_from("ab/é:?"), max_size=6)
_ROW = st.lists(
    st.one_of(st.none(), st.integers(-5, 10**12), _PLAIN_TEXT, _TEXT, _ODD),
    min_size=len(PAGE_FIELDS) - 1,
    max_size=len(PAGE_FIELDS) + 1,
)


@given(st.lists(_ROW, max_size=8))
def test_a_block_of_pages_lines_is_the_tsv_lines_of_its_rows(rows):
    assert page_lines(rows) == "".join(tsv_line(row) for row in rows)


def test_a_short_row_does_not_hide_a_tab_in_the_next_one():
    short = [1, *["x"] * (len(PAGE_FIELDS) - 2)]  # one tab too few
    tabbed = [2, "a\tb", *["x"] * (len(PAGE_FIELDS) - 2)]  # one tab too many, unescaped
    rows = [short, tabbed]
    assert page_lines(rows) == tsv_line(short) + tsv_line(tabbed)
    assert "a\\tb" in page_lines(rows)


def test_a_block_of_usual_rows_is_made_at_once(monkeypatch):
    rows = [[n, f"http://a/{n}", None, 200, *["x"] * (len(PAGE_FIELDS) - 4)] for n in range(5)]
    want = "".join(tsv_line(row) for row in rows)
    monkeypatch.setattr(merge, "page_line", None)  # the row-by-row way would fail
    assert page_lines(rows) == want
    assert page_lines([]) == ""


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\\", "\0"])
def test_a_pages_line_escapes_each_character_alone(char):
    values = [7, f"http://a/{char}b", *["x"] * (len(PAGE_FIELDS) - 2)]
    assert page_line(values) == tsv_line(values)
    assert page_line(values).count("\t") == len(PAGE_FIELDS) - 1


def test_pages_from_part_files_are_the_pages_from_their_rows(tmp_path):
    rows = [
        PageRow(line=1, url="http://a/", status=200, bytes=5, elapsed_ms=3, attempts=1),
        PageRow(line=2, url="http://a/\tb", error="dns", detail="x\\y\nz", attempts=2),
        PageRow(line=4, url="http://c/", error="duplicate", detail="same URL as line 1"),
    ]
    part = tmp_path / "part.jsonl"
    part.write_bytes(b"".join(row.to_jsonl() for row in rows))
    fast = write_parts(tmp_path / "fast.tsv", [part], expected=3)
    slow = write_pages(tmp_path / "slow.tsv", rows, expected=3)
    assert (tmp_path / "fast.tsv").read_bytes() == (tmp_path / "slow.tsv").read_bytes()
    assert fast == slow
    assert (fast.rows, fast.ok, fast.errors, fast.retries, fast.bytes) == (3, 1, 2, 1, 5)


def test_a_part_crawled_with_other_settings_is_not_merged_under_these(tmp_path):
    # --rerun-triggers mtime kept the parts of a crawl that allowed http when crawl.schemes
    # became [https]: summary.json stated https only beside the http pages fetched
    rows = [PageRow(line=1, url="http://a/", status=200, bytes=5, elapsed_ms=3, attempts=1)]
    before = CrawlSettings(schemes=("http", "https"))
    part = tmp_path / "part.jsonl"
    part.write_bytes(merge.part_header(before) + rows[0].to_jsonl())
    assert list(merge.iter_rows([part])) == rows
    assert write_parts(tmp_path / "p.tsv", [part], 1, before.with_hosts({"a": "::1"})).rows == 1
    with pytest.raises(
        PoolpipeError, match=r"\(schemes was \['http', 'https'\], now \['https'\]\)"
    ):
        write_parts(tmp_path / "q.tsv", [part], 1, CrawlSettings(schemes=("https",)))
    assert not (tmp_path / "q.tsv").exists()
    old = tmp_path / "old.jsonl"  # a part of a run before parts recorded their settings
    old.write_bytes(rows[0].to_jsonl())
    assert write_parts(tmp_path / "o.tsv", [old], 1, before).rows == 1
    assert (tmp_path / "o.tsv").read_bytes() == (tmp_path / "p.tsv").read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        b'{"broken\n',
        b"\n",
        b"[1, 2]\n",
        b'{"line": 2}\n',
        b'["2", "u"' + b', ""' * 11 + b"]\n",
        b'[2, "u", "", "200"' + b', ""' * 9 + b"]\n",  # a status as text
        b'[2, "u", "", 200, 5, 1.5, 1' + b', ""' * 6 + b"]\n",  # a fraction of a ms
        b'[2, "u", "", null, 0, null, 0, ["x"]' + b', ""' * 5 + b"]\n",  # a list for an error
        b'[true, "u", "", null, 0, null, 0' + b', ""' * 6 + b"]\n",  # true is not a line
        PageRow(line=2, url="u").to_jsonl()[:-1] + b" 3\n",  # more after the row
        PageRow(line=2, url="u").to_jsonl()[:-1],  # no newline: the file was cut short
        PageRow(line=2, url="u", status=200, elapsed_ms=2**64, attempts=1).to_jsonl(),
        PageRow(line=2, url="u", status=200, elapsed_ms=-1, attempts=1).to_jsonl(),
        PageRow(line=2, url="u", status=200, elapsed_ms=2**63, attempts=1).to_jsonl(),
        PageRow(line=2, url="u", status=200, attempts=-1).to_jsonl(),
        PageRow(line=2, url="u", status=200, bytes=-5, attempts=1).to_jsonl(),
    ],
)
def test_a_damaged_part_line_is_one_sentence(tmp_path, damage):
    part = tmp_path / "part.jsonl"
    part.write_bytes(PageRow(line=1, url="http://a/").to_jsonl() + damage)
    with pytest.raises(
        PoolpipeError, match=r"line 2 of the crawl part .*part\.jsonl' is not a row"
    ):
        write_parts(tmp_path / "p.tsv", [part])
    assert not (tmp_path / "p.tsv").exists()


def test_the_largest_elapsed_time_a_row_can_hold_is_read(tmp_path):
    part = tmp_path / "part.jsonl"
    part.write_bytes(
        PageRow(line=1, url="u", status=200, elapsed_ms=2**63 - 1, attempts=1).to_jsonl()
    )
    assert write_parts(tmp_path / "p.tsv", [part]).latency_ms()["max"] == 2**63 - 1


def test_rows_out_of_order_are_named_before_a_later_damaged_line(tmp_path):
    part = tmp_path / "part.jsonl"
    rows = [PageRow(line=2, url="u"), PageRow(line=1, url="v")]
    part.write_bytes(b"".join(row.to_jsonl() for row in rows) + b'{"broken\n')
    with pytest.raises(PoolpipeError, match="out of order at line 1"):
        write_parts(tmp_path / "p.tsv", [part])


def test_a_short_row_with_a_tab_is_escaped():
    short = [1, *["x"] * (len(PAGE_FIELDS) - 3), "a\tb"]  # one field too few, one tab too many
    assert page_line(short) == tsv_line(short)
    assert page_lines([short]) == tsv_line(short)


def test_merge_refuses_missing_or_disordered_rows(tmp_path):
    with pytest.raises(PoolpipeError, match="2 rows for 3 URL lines"):
        write_pages(
            tmp_path / "p.tsv", [PageRow(line=1, url="u"), PageRow(line=2, url="v")], expected=3
        )
    with pytest.raises(PoolpipeError, match="out of order at line 1"):
        write_pages(tmp_path / "p.tsv", [PageRow(line=2, url="u"), PageRow(line=1, url="v")])
    assert not (tmp_path / "p.tsv").exists()


def test_the_crawl_settings_load_without_the_engine():
    """The workflow checks the crawl's settings at every start: that must not load the engine,
    urllib3 or warcio (a fifth of a second before each run and each cluster job)."""
    import subprocess
    import sys

    heavy = ["urllib3", "warcio", "asyncio", "poolpipe.crawl.ranges", "poolpipe.crawl.engine"]
    probe = (
        "import sys\nfrom poolpipe.crawl.settings import CrawlSettings\nCrawlSettings()\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert run.stdout.strip() == "[]"
