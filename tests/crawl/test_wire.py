"""HTTP/1.1 as the asyncio engine reads it (poolpipe.crawl.wire), and its plain-URL parser."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from poolpipe.crawl.fetch import check_url
from poolpipe.crawl.wire import (
    MAX_HEADERS,
    BadLength,
    Chunks,
    DecodeFailed,
    Decoder,
    WireError,
    body_length,
    keeps_alive,
    parse_head,
    request,
)


def test_a_head_is_read_with_its_repeats_joined_and_junk_lines_skipped():
    head = parse_head(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nBad Name :1\r\ngarbage\r\n"
        b"set-cookie: b\r\nX-Long: one\r\n two\r\nContent-Length: 5"
    )
    assert (head.status, head.reason, head.version) == (200, "OK", "HTTP/1.1")
    assert head.get("set-cookie") == "a, b"
    assert head.get("x-long") == "one two"
    assert [name for name, _ in head.items()] == [
        "Set-Cookie",
        "set-cookie",
        "X-Long",
        "Content-Length",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 abc", "HTTP/1.1 abc"),
        (b"SPDY/3 200 OK", "SPDY/3 200 OK"),
        (b"HTTP/1.1 000 Zero", "HTTP/1.1 000 Zero"),  # http.client takes no status below 100
        (b"HTTP/1.1 099", "HTTP/1.1 099"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * (MAX_HEADERS + 1), "got more than 100 headers"),
    ],
)
def test_an_unreadable_head_is_a_wire_error(data, message):
    with pytest.raises(WireError, match=message):
        parse_head(data)


@pytest.mark.parametrize(
    ("head", "length"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 42", 42),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7", 7),
        (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -5", None),
        (b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 40, 10**18),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3", -1),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", None),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99", 0),
        (b"HTTP/1.0 200 OK", None),
    ],
)
def test_the_body_is_framed_as_the_head_says(head, length):
    assert body_length(parse_head(head)) == length


def test_content_lengths_that_disagree_are_refused():
    with pytest.raises(BadLength, match="multiple unmatching values"):
        body_length(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nContent-Length: 10"))


def test_keep_alive_follows_the_version_and_connection_header():
    assert keeps_alive(parse_head(b"HTTP/1.1 200 OK"))
    assert not keeps_alive(parse_head(b"HTTP/1.1 200 OK\r\nConnection: close"))
    assert not keeps_alive(parse_head(b"HTTP/1.0 200 OK"))
    assert keeps_alive(parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive"))


def test_a_request_that_cannot_go_on_the_wire_is_refused():
    assert request("/a?b", "h:1", {"User-Agent": "x"}).startswith(b"GET /a?b HTTP/1.1\r\nHost: h:1")
    with pytest.raises(UnicodeEncodeError):
        request("/\u03a9", "h", {})


def test_chunks_are_undone_across_any_split():
    wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n"
    for cut in range(len(wire) + 1):
        chunks, buf, body = Chunks(), bytearray(), b""
        for part in (wire[:cut], wire[cut:]):
            buf += part
            body += b"".join(chunks.feed(buf)[0])
        assert (body, chunks.done) == (b"Wikipedia", True)


def test_a_broken_chunk_size_is_a_wire_error():
    with pytest.raises(WireError, match="InvalidChunkLength"):
        Chunks().feed(bytearray(b"zz\r\nabc\r\n"))


def test_a_compression_bomb_is_inflated_a_block_at_a_time():
    bomb = gzip.compress(bytes(20 << 20))
    blocks = Decoder("gzip").feed(bomb, 65536)
    first = next(blocks)
    assert len(first) <= 65536
    assert len(first) + sum(len(b) for b in blocks) == 20 << 20


BODY = b"a" * 5000 + b"b" * 7


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("coding", "data"),
    [
        ("gzip", gzip.compress(BODY[:5000], mtime=0) + gzip.compress(BODY[5000:], mtime=0)),
        ("deflate", zlib.compress(BODY)),
        ("deflate", _raw_deflate(BODY)),
        ("gzip, deflate", zlib.compress(gzip.compress(BODY, mtime=0))),
        ("br", BODY),
    ],
    ids=["gzip members", "deflate", "raw deflate", "two codings", "unknown coding"],
)
def test_content_codings_are_undone(coding, data):
    assert b"".join(Decoder(coding).feed(data, 100)) == BODY


def test_a_body_that_does_not_decode_is_a_decode_error():
    with pytest.raises(DecodeFailed, match="content-encoding: gzip"):
        list(Decoder("gzip").feed(b"not gzip at all", 100))


_URL_PARTS = st.text(alphabet="abcXY019-._~!$&'()*+,;=:@/?%#[] ", max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=st.sampled_from(["127.0.0.1", "example.com", "a-b.c", "x..y", "[::1]", "Ex.com", "h"]),
    port=st.sampled_from(["", ":80", ":65535", ":65536", ":", ":0080"]),
    rest=_URL_PARTS,
)
def test_the_plain_url_path_parses_as_urllib3_does(scheme, host, port, rest):
    url = f"{scheme}://{host}{port}{rest}"
    parsed, bad = check_url(url, ("http", "https"))
    try:
        expected = parse_url(url)
    except ValueError:
        assert parsed is None and bad is not None
        return
    if parsed is not None:
        assert tuple(parsed) == tuple(expected)
        assert (parsed.request_uri, parsed.netloc) == (expected.request_uri, expected.netloc)


def test_the_ca_bundle_is_certifis_with_or_without_its_file_beside_the_module(
    monkeypatch, tmp_path
):
    import certifi

    from poolpipe.crawl import conn

    conn.ca_bundle.cache_clear()
    try:
        assert conn.ca_bundle() == certifi.where()
        conn.ca_bundle.cache_clear()
        # a certifi whose bundle is not a file beside it (a zip import): certifi.where() finds it
        monkeypatch.setattr(certifi, "__file__", str(tmp_path / "core.py"))
        monkeypatch.setattr(certifi, "where", lambda: "/from/where.pem")
        assert conn.ca_bundle() == "/from/where.pem"
    finally:
        conn.ca_bundle.cache_clear()
