"""Incremental re-crawls: the content columns, and conditional requests from an earlier
pages.tsv (crawl.previous) against a test site on 127.0.0.1 that serves ETag, Last-Modified
and 304."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from poolpipe.crawl.demosite import Site, SiteSpec, page_body, serve
from poolpipe.crawl.ranges import crawl_file
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.errors import PoolpipeError

from ..crawl_helpers import read_pages, site_stats

SETTINGS = CrawlSettings(concurrency=4, deadline=10.0, retries=0)
PAGE_BYTES = 700


@contextmanager
def site_at(version: int) -> Iterator[Site]:
    """A test site whose pages are at `version`."""
    with serve(SiteSpec(pages=50, page_bytes=PAGE_BYTES, version=version, max_seconds=300)) as s:
        yield s


def crawl(site: Site, tmp_path: Path, name: str, settings: CrawlSettings = SETTINGS) -> Path:
    """Crawl pages 0-5 and a 404 of the site into tmp_path/name; the pages.tsv."""
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{site.base}/page/{i}\n" for i in range(6)) + f"{site.base}/x\n")
    out = tmp_path / name
    crawl_file(str(urls), out=out, settings=settings, processes=2)
    return out


def test_rows_carry_type_hash_and_validators(tmp_path):
    with site_at(0) as site:
        rows = read_pages(crawl(site, tmp_path, "a.tsv"))
    for i, row in enumerate(rows[:6]):
        assert row.status == 200 and row.content_type == "text/html"
        assert row.sha256 == hashlib.sha256(page_body(i, PAGE_BYTES)).hexdigest()
        assert row.etag == f'"p{i}-v0"'
        assert row.last_modified == "Wed, 01 Jan 2020 00:00:00 GMT"
    assert rows[6].status == 404 and rows[6].etag == "" and len(rows[6].sha256) == 64


def test_a_recrawl_asks_conditionally_and_keeps_the_earlier_hash(tmp_path):
    with site_at(0) as site:
        first = read_pages(before := crawl(site, tmp_path, "a.tsv"))
        again = read_pages(crawl(site, tmp_path, "b.tsv", replace(SETTINGS, previous=str(before))))
        hits = site_stats(site)["hits"]
    assert [r.status for r in again] == [304] * 6 + [404]
    assert all(r.detail == "not_modified" and r.bytes == 0 for r in again[:6])
    assert [r.sha256 for r in again[:6]] == [r.sha256 for r in first[:6]]
    assert [r.etag for r in again[:6]] == [r.etag for r in first[:6]]
    assert again[6].detail == "" and again[6].sha256 == first[6].sha256
    assert all(hits[f"/page/{i}"] == 2 for i in range(6))


def test_a_changed_page_is_fetched_whole_with_its_new_hash(tmp_path):
    with site_at(0) as site:
        before = crawl(site, tmp_path, "a.tsv")
    with site_at(1) as site:
        rows = read_pages(crawl(site, tmp_path, "b.tsv", replace(SETTINGS, previous=str(before))))
    assert [r.status for r in rows[:6]] == [200] * 6
    assert rows[2].sha256 == hashlib.sha256(page_body(2, PAGE_BYTES, 1)).hexdigest()
    assert rows[2].etag == '"p2-v1"' and rows[2].detail == ""


def test_if_modified_since_alone_gives_304(tmp_path):
    with site_at(0) as site:
        before = crawl(site, tmp_path, "a.tsv")
        text = before.read_text().replace('"p', '"other-p')
        edited = tmp_path / "edited.tsv"
        edited.write_text(text)
        tagged = read_pages(crawl(site, tmp_path, "b.tsv", replace(SETTINGS, previous=str(edited))))
        no_tag = tmp_path / "no_tag.tsv"
        lines = before.read_text().splitlines(keepends=True)
        no_tag.write_text(lines[0] + "".join(_without_etag(line) for line in lines[1:]))
        dated = read_pages(crawl(site, tmp_path, "c.tsv", replace(SETTINGS, previous=str(no_tag))))
    # a non-matching ETag wins over a matching date (RFC 9110 13.2.2)
    assert [r.status for r in tagged[:6]] == [200] * 6
    assert [r.status for r in dated[:6]] == [304] * 6
    assert all(r.etag == f'"p{i}-v0"' for i, r in enumerate(dated[:6]))


def _without_etag(line: str) -> str:
    fields = line.rstrip("\n").split("\t")
    fields[11] = ""
    return "\t".join(fields) + "\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("line\turl\n1\thttp://a/\n", "is not a pages.tsv"),
        (None, "cannot be read"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_previous_that_is_not_a_pages_tsv_is_one_sentence(tmp_path, content, message):
    previous = tmp_path / "previous.tsv"
    if isinstance(content, bytes):
        previous.write_bytes(content)
    elif content is not None:
        previous.write_text(content)
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    settings = replace(SETTINGS, previous=str(previous))
    with pytest.raises(PoolpipeError, match=message):
        crawl_file(str(urls), out=tmp_path / "out.tsv", settings=settings, processes=1)
    assert not (tmp_path / "out.tsv").exists()


def _earlier_lines(tmp_path) -> list[str]:
    """The lines of a real earlier crawl's pages.tsv."""
    with site_at(0) as site:
        return crawl(site, tmp_path, "a.tsv").read_text().splitlines(keepends=True)


def _refused_as_previous(tmp_path, text: str, match: str) -> None:
    """A crawl given text as crawl.previous stops with a sentence matching match."""
    broken = tmp_path / "broken.tsv"
    broken.write_text(text)
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    with pytest.raises(PoolpipeError, match=match):
        crawl_file(
            str(urls), out=tmp_path / "o.tsv", settings=replace(SETTINGS, previous=str(broken)),
            processes=1,
        )  # fmt: skip


def test_a_previous_row_with_missing_fields_names_its_line(tmp_path):
    lines = _earlier_lines(tmp_path)
    _refused_as_previous(tmp_path, "".join(lines[:3]) + "1\thttp://a/\n", "line 4 has 2 fields")


def test_a_previous_row_whose_sha256_is_no_hash_names_its_line(tmp_path):
    """A 304 row carries the earlier sha256 on: one that is no hash is refused, not copied."""
    lines = _earlier_lines(tmp_path)
    fields = lines[1].rstrip("\n").split("\t")
    assert fields[3] == "200" and fields[11]  # a row asked again: a 200 with its ETag
    fields[10] = "nothex"
    text = lines[0] + "\t".join(fields) + "\n"
    _refused_as_previous(tmp_path, text, "line 2: its sha256 'nothex' is not 64 hexadecimal")
