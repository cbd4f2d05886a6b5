"""The WARC store (crawl.store: warc), read back with warcio: one response record per row that
got a response, in input order, each body the one the row's sha256 names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from poolpipe.core.chunks import split_file
from poolpipe.crawl import ranges
from poolpipe.crawl.demosite import Site, SiteSpec, serve
from poolpipe.crawl.merge import iter_rows
from poolpipe.crawl.ranges import crawl_file, crawl_range
from poolpipe.crawl.settings import CrawlSettings

from ..crawl_helpers import read_pages

SETTINGS = CrawlSettings(concurrency=4, deadline=10.0, retries=0, store="warc")


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve(SiteSpec(pages=200, page_bytes=900, max_seconds=300)) as running:
        yield running


def records(path: Path) -> list[tuple[str, int, bytes]]:
    """(target URI, HTTP status, body) of every response record of a WARC file."""
    found = []
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            assert record.rec_type == "response"
            status = int(record.http_headers.get_statuscode())
            found.append((record.rec_headers.get_header("WARC-Target-URI"), status,
                          record.content_stream().read()))  # fmt: skip
    return found


def test_every_response_is_archived_in_input_order(tmp_path, site):
    b = site.base
    lines = [f"{b}/page/1", f"{b}/status/404", f"{b}/redirect/1", "http://x.invalid/",
             f"{b}/private/a", f"{b}/big?bytes=5000&chunked=1", f"{b}/page/2"]  # fmt: skip
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{line}\n" for line in lines))
    out = tmp_path / "pages.tsv"
    crawl_file(str(urls), out=out, settings=SETTINGS, processes=2)
    rows = read_pages(out)
    archived = [r for r in rows if r.status is not None and not r.error]
    assert [r.line for r in archived] == [1, 2, 3, 6, 7]
    found = records(tmp_path / "pages.warc.gz")
    assert [(u, s) for u, s, _ in found] == [(r.final_url, r.status) for r in archived]
    assert [hashlib.sha256(body).hexdigest() for _, _, body in found] == [
        r.sha256 for r in archived
    ]
    assert len(found[3][2]) == 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pages.tsv", "pages.warc.gz", "urls.txt"]


def test_pieces_of_many_processes_join_in_order(tmp_path, site, monkeypatch):
    monkeypatch.setattr(ranges, "PIECE_BYTES", 300)
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{site.base}/page/{i}\n" for i in range(60)))
    out = tmp_path / "part.jsonl"
    crawl_range(split_file(urls, 1)[0], SETTINGS, processes=3, out=out)
    rows = list(iter_rows([out]))
    found = records(tmp_path / "part.warc.gz")
    assert (
        [u for u, _, _ in found]
        == [r.url for r in rows]
        == [f"{site.base}/page/{i}" for i in range(60)]
    )


def test_off_by_default(tmp_path, site):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{site.base}/page/1\n")
    crawl_file(str(urls), out=tmp_path / "pages.tsv", settings=replace(SETTINGS, store="none"),
               processes=1)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pages.tsv", "urls.txt"]


def test_a_warc_path_that_cannot_be_written_is_one_sentence_before_any_work(tmp_path, site):
    from poolpipe.errors import PoolpipeError

    urls = tmp_path / "urls.txt"
    urls.write_text(f"{site.base}/page/77?blocked\n")
    (tmp_path / "pages.warc.gz").mkdir()
    with pytest.raises(PoolpipeError, match=r"the WARC file .* is a folder"):
        crawl_file(str(urls), out=tmp_path / "pages.tsv", settings=SETTINGS, processes=1)
    assert not (tmp_path / "pages.tsv").exists()
