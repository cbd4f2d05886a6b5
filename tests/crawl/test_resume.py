"""A crawl job killed with SIGKILL resumes from its journal: the rows written before the kill
are kept, their URLs are not fetched again, and the part file equals an uninterrupted run's
(latencies aside). A journal of other settings, or a damaged one, is never trusted. The
`poolpipe crawl` command resumes the same way from OUT.journal/, and --restart starts over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from poolpipe.core.chunks import split_file
from poolpipe.crawl.demosite import Site, SiteSpec, serve
from poolpipe.crawl.journal import journal_dir
from poolpipe.crawl.merge import iter_rows
from poolpipe.crawl.ranges import crawl_range
from poolpipe.crawl.rows import PageRow
from poolpipe.crawl.settings import CrawlSettings

from ..crawl_helpers import POOLPIPE, poolpipe, read_pages, site_stats

SETTINGS = CrawlSettings(concurrency=4, per_host=4, deadline=10.0, retries=1, backoff=0.05)
PAGES = 60
WAIT_S = 60.0

CHILD = """
import sys
from poolpipe.core.chunks import split_file
from poolpipe.crawl.ranges import crawl_range
from poolpipe.crawl.settings import CrawlSettings
settings = CrawlSettings(
    concurrency=4, per_host=4, deadline=10.0, retries=1, backoff=0.05, store=sys.argv[3]
)
crawl_range(split_file(sys.argv[1], 1)[0], settings, processes=2, out=sys.argv[2])
"""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve(SiteSpec(pages=500, latency=0.03, max_seconds=600)) as running:
        yield running


def url_file(tmp_path: Path, site: Site, name: str) -> Path:
    """Pages under a name unique to the test, with a comment, a blank and a bad line."""
    lines = [f"{site.base}/page/{i}?{name}" for i in range(PAGES)]
    lines[10:10] = ["# a comment", "", "ftp://x/"]
    path = tmp_path / "urls.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def strip(rows: list[PageRow]) -> list[PageRow]:
    """Rows with their latency dropped: all that may differ between two crawls."""
    return [replace(r, elapsed_ms=None) for r in rows]


def journaled(out: Path) -> int:
    """Complete rows in the journal of out."""
    folder = journal_dir(out)
    if not folder.exists():
        return 0
    return sum(p.read_bytes().count(b"\n") for p in folder.glob("*.jsonl"))


def kill_after(urls: Path, out: Path, rows: int, store: str = "none") -> list[PageRow]:
    """Start a crawl job, SIGKILL it (and its workers) once its journal holds `rows` rows;
    the rows the journal kept."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(urls), str(out), store], start_new_session=True
    )
    try:
        end = time.monotonic() + WAIT_S
        while journaled(out) < rows and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.005)
        assert proc.poll() is None, "the crawl ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not out.exists()
    kept = []
    for piece in sorted(journal_dir(out).glob("*.jsonl")):
        data = piece.read_bytes()
        kept += [PageRow.from_jsonl(line) for line in data.splitlines(keepends=True)[:-1]]
        if data.endswith(b"\n"):
            kept.append(PageRow.from_jsonl(data.splitlines(keepends=True)[-1]))
    return kept


@pytest.mark.parametrize("at", [0, 3, 25])
def test_a_job_killed_at_any_point_resumes_to_the_same_rows(tmp_path, site, at):
    urls = url_file(tmp_path, site, f"kill{at}")
    whole = split_file(urls, 1)[0]
    reference = tmp_path / "reference.jsonl"
    crawl_range(whole, SETTINGS, processes=2, out=reference)
    hits_before = site_stats(site)["hits"]
    out = tmp_path / "part.jsonl"
    kept = kill_after(urls, out, at)
    assert len(kept) >= at
    crawl_range(whole, SETTINGS, processes=2, out=out)
    assert strip(list(iter_rows([out]))) == strip(list(iter_rows([reference])))
    assert not journal_dir(out).exists()
    hits = site_stats(site)["hits"]
    for row in kept:
        if row.attempts:
            target = row.url.removeprefix(site.base)
            assert hits[target] - hits_before[target] == 1, f"{target} fetched again"


def test_a_journal_of_other_settings_is_set_aside(tmp_path, site):
    urls = url_file(tmp_path, site, "other")
    whole = split_file(urls, 1)[0]
    out = tmp_path / "part.jsonl"
    kill_after(urls, out, 5)
    changed = replace(SETTINGS, max_bytes=SETTINGS.max_bytes - 1)
    crawl_range(whole, changed, processes=2, out=out)
    rows = list(iter_rows([out]))
    assert [r.line for r in rows] == sorted({r.line for r in rows})
    assert len(rows) == PAGES + 1  # the comment and the blank line have no row
    hits = site_stats(site)["hits"]
    assert hits[f"/page/{PAGES - 1}?other"] == 1
    assert all(hits[f"/page/{i}?other"] >= 1 for i in range(PAGES))


@pytest.mark.parametrize("damage", ["identity", "rows", "tail"])
def test_a_damaged_journal_is_never_trusted(tmp_path, site, damage):
    urls = url_file(tmp_path, site, f"damage-{damage}")
    whole = split_file(urls, 1)[0]
    reference = tmp_path / "reference.jsonl"
    crawl_range(whole, SETTINGS, processes=2, out=reference)
    out = tmp_path / "part.jsonl"
    kill_after(urls, out, 8)
    folder = journal_dir(out)
    if damage == "identity":
        (folder / "identity.json").write_text("{not json")
    else:
        piece = max(folder.glob("*.jsonl"), key=lambda p: p.stat().st_size)
        data = piece.read_bytes()
        middle = data.index(b"\n") + 1
        junk = b'["junk"]\n' if damage == "rows" else b'[1, "http://half'
        piece.write_bytes(data[:middle] + junk if damage == "rows" else data + junk)
    crawl_range(whole, SETTINGS, processes=2, out=out)
    assert strip(list(iter_rows([out]))) == strip(list(iter_rows([reference])))


def test_a_killed_job_with_the_warc_store_resumes_records_and_rows_alike(tmp_path, site):
    urls = url_file(tmp_path, site, "warc")
    whole = split_file(urls, 1)[0]
    settings = replace(SETTINGS, store="warc")
    reference = tmp_path / "reference.jsonl"
    crawl_range(whole, settings, processes=2, out=reference)
    out = tmp_path / "part.jsonl"
    kept = kill_after(urls, out, 12, store="warc")
    assert len(kept) >= 12
    crawl_range(whole, settings, processes=2, out=out)
    rows = list(iter_rows([out]))
    assert strip(rows) == strip(list(iter_rows([reference])))
    with open(tmp_path / "part.warc.gz", "rb") as fh:
        uris = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)]
    assert uris == [r.final_url for r in rows if r.archived]


def test_a_file_where_the_journal_goes_is_replaced(tmp_path, site):
    urls = url_file(tmp_path, site, "file")
    out = tmp_path / "part.jsonl"
    journal_dir(out).write_text("not a journal\n")
    crawl_range(split_file(urls, 1)[0], SETTINGS, processes=1, out=out)
    assert len(list(iter_rows([out]))) == PAGES + 1
    assert not journal_dir(out).exists()


# --- the `poolpipe crawl` command resumes the same way, from OUT.journal/ ------------------


def cli_journaled(out: Path) -> int:
    """Complete rows in the journal of the command's run that writes out."""
    return journaled(journal_dir(out) / "part.jsonl")


def kill_cli_after(urls: Path, out: Path, rows: int) -> None:
    """Start `poolpipe crawl`, SIGKILL it and its workers once its journal holds `rows` rows."""
    proc = subprocess.Popen(
        [POOLPIPE, "crawl", str(urls), "--out", str(out), *CLI_OPTIONS],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + WAIT_S
        while cli_journaled(out) < rows and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.005)
        assert proc.poll() is None, "the crawl ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert not out.exists() and journal_dir(out).is_dir()


CLI_OPTIONS = ["--processes", "2", "--concurrency", "4", "--per-host", "4", "--retries", "1"]


def fetched(site: Site, before: dict[str, int]) -> Counter:
    """Requests per path since `before` was read."""
    now = Counter(site_stats(site)["hits"])
    now.subtract(before)
    return now


def test_a_killed_crawl_command_resumes_and_fetches_no_journalled_url_again(tmp_path, site):
    urls = url_file(tmp_path, site, "cli")
    reference = tmp_path / "reference" / "pages.tsv"
    assert poolpipe("crawl", str(urls), "--out", str(reference), *CLI_OPTIONS).returncode == 0
    before = site_stats(site)["hits"]
    out = tmp_path / "run" / "pages.tsv"
    kill_cli_after(urls, out, 20)
    kept = [
        PageRow.from_jsonl(line)
        for piece in (journal_dir(out) / "part.jsonl.journal").glob("*.jsonl")
        for line in piece.read_bytes().splitlines(keepends=True)
        if line.endswith(b"\n")
    ]
    run = poolpipe("crawl", str(urls), "--out", str(out), *CLI_OPTIONS)
    assert run.returncode == 0, run.stderr
    assert run.stderr == (
        f"{journal_dir(out)} is the journal of an earlier run that did not finish: its rows "
        "are kept if the URL file and the settings are the same (--restart starts over)\n"
    )
    assert strip(read_pages(out)) == strip(read_pages(reference))
    assert sorted(p.name for p in out.parent.iterdir()) == ["pages.tsv"]
    hits = fetched(site, before)
    pages = [p for p in hits if p.endswith("?cli")]
    twice = sorted(p for p in pages if hits[p] > 1)
    print(f"kept {len(kept)} rows at the kill; {len(twice)} of {len(pages)} URLs fetched twice")
    for row in kept:
        if row.attempts:
            assert hits[row.url.removeprefix(site.base)] == 1, f"{row.url} fetched again"
    assert len(twice) <= PAGES - len(kept)
    assert hits["/robots.txt"] == 1, "robots.txt asked again by the resumed run"


def test_restart_starts_a_killed_crawl_command_over(tmp_path, site):
    urls = url_file(tmp_path, site, "restart")
    out = tmp_path / "pages.tsv"
    before = site_stats(site)["hits"]
    kill_cli_after(urls, out, 10)
    kept = fetched(site, before)
    run = poolpipe("crawl", str(urls), "--out", str(out), "--restart", *CLI_OPTIONS)
    assert run.returncode == 0, run.stderr
    assert len(read_pages(out)) == PAGES + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pages.tsv", "urls.txt"]
    hits = fetched(site, before)
    again = [p for p in kept if p.endswith("?restart") and kept[p] > 0]
    assert again and all(hits[p] == kept[p] + 1 for p in again)


def test_a_journal_folder_that_is_a_link_or_a_file_is_not_used(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    out = tmp_path / "pages.tsv"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    journal_dir(out).symlink_to(elsewhere)
    run = poolpipe("crawl", str(urls), "--out", str(out))
    assert run.returncode == 1
    assert run.stderr == (
        f"poolpipe: error: {str(journal_dir(out))!r}, where the crawl keeps its journal, is not "
        "a folder of its own: move it away or choose another --out\n"
    )
    assert list(elsewhere.iterdir()) == [] and not out.exists()
