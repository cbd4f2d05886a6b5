"""`poolpipe crawl` and `poolpipe demo-urls` as a user runs them; SIGTERM stops a crawl
promptly and leaves no process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest

from poolpipe.core import schema_defaults
from poolpipe.crawl.demosite import Site, SiteSpec, serve

from ..crawl_helpers import POOLPIPE, poolpipe, read_pages, site_stats, url_lines

GONE_S = 15.0
"""How long every process of a stopped crawl may take to disappear."""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve(SiteSpec(pages=100, hang_max=60, max_seconds=600)) as running:
        yield running


def test_crawl_of_the_demo_list_with_the_demo_site(tmp_path):
    urls = tmp_path / "urls.txt"
    assert poolpipe("demo-urls", str(urls), "--pages", "40", "--seed", "3").returncode == 0
    out = tmp_path / "pages.tsv"
    run = poolpipe(
        "crawl", str(urls), "--out", str(out), "--processes", "2", "--concurrency", "8",
        "--per-host", "4", "--demo-site", "--demo-pages", "40", "--summary",
        str(tmp_path / "summary.json"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    rows = read_pages(out)
    assert [r.line for r in rows] == url_lines(urls.read_bytes())
    assert summary["rows"] == len(rows) == summary["urls"]
    assert summary["by_status"]["200"] >= 40
    kinds = set(summary["by_error"])
    assert {"dns", "refused", "scheme", "invalid_url", "duplicate", "robots"} <= kinds
    assert {"redirect_loop", "too_large"} <= kinds
    assert summary["settings"]["concurrency"] == 8 and summary["settings"]["per_host"] == 4
    pages = [r for r in rows if r.status == 200 and "/page/" in r.url]
    shape = schema_defaults("demo")["crawl"]  # the workflow's demo site, as the help says
    assert pages and {r.bytes for r in pages} == {shape["page_bytes"]}
    assert min(r.elapsed_ms for r in pages) >= shape["latency_ms"]


def test_without_the_demo_site_demo_names_fail_without_any_lookup(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://demo.poolpipe.invalid/page/1\n")
    out = tmp_path / "pages.tsv"
    run = poolpipe("crawl", str(urls), "--out", str(out), "--processes", "1")
    assert run.returncode == 0, run.stderr
    assert [(r.error, r.attempts) for r in read_pages(out)] == [("dns", 1)]


def test_a_missing_url_file_is_one_sentence(tmp_path):
    run = poolpipe("crawl", str(tmp_path / "absent.txt"), "--out", str(tmp_path / "o.tsv"))
    assert run.returncode == 1
    assert run.stderr.strip().endswith("does not exist")
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_demo_pages_without_the_demo_site_is_refused_before_any_fetch(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://demo.poolpipe.invalid/page/1\n")
    out = tmp_path / "pages.tsv"
    run = poolpipe("crawl", str(urls), "--out", str(out), "--demo-pages", "40")
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "give --demo-site with it" in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("where", ["urlfile", "--previous", "--summary", "--timing"])
def test_a_file_in_the_journal_folder_is_refused_before_any_fetch(tmp_path, where):
    # the crawl removes OUT.journal/ once OUT is written: a URL file or --previous kept there
    # was deleted by the run, a --summary or --timing written there by the next one
    urls = tmp_path / "urls.txt"
    urls.write_text("http://demo.poolpipe.invalid/page/1\n")
    out = tmp_path / "pages.tsv"
    journal = tmp_path / "pages.tsv.journal"
    journal.mkdir()
    inside = journal / "file"
    previous = tmp_path / "previous.tsv"
    if where == "urlfile":
        (urls := inside).write_text("http://demo.poolpipe.invalid/page/1\n")
    elif where == "--previous":
        (previous := inside).write_text("line\turl\n")
    args = ["crawl", str(urls), "--out", str(out), "--processes", "1"]
    args += ["--previous", str(previous)] if where == "--previous" else []
    args += [where, str(inside)] if where in ("--summary", "--timing") else []
    run = poolpipe(*args)
    label = "URLFILE" if where == "urlfile" else where
    assert run.returncode == 1
    assert f"{label} {str(inside)!r} lies in {str(journal)!r}, the folder where" in run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert not out.exists() and inside.exists() == (where in ("urlfile", "--previous"))


def _wait_for(check, seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_sigterm_stops_a_crawl_promptly_and_leaves_no_process(tmp_path, site):
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{site.base}/hang?seconds=60&n={i}\n" for i in range(40)))
    out = tmp_path / "out" / "pages.tsv"
    cmd = [POOLPIPE, "crawl", str(urls), "--out", str(out), "--processes", "2"]
    cmd += ["--concurrency", "8", "--per-host", "8", "--deadline", "50", "--demo-site"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        parent = psutil.Process(proc.pid)

        def hanging() -> bool:
            return sum(p.startswith("/hang?seconds=60&n=") for p in site_stats(site)["hits"]) >= 8

        _wait_for(hanging, 60, "the crawl's requests to hang")
        family = parent.children(recursive=True)
        assert len(family) >= 3, "two pool workers and the demo site"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=GONE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    _, alive = psutil.wait_procs(family, timeout=GONE_S)
    assert alive == []
    assert not out.exists()
    assert list(out.parent.iterdir()) == []
