"""Integration: the real `snakemake` runs the crawl stage on the demo config (its own demo
site on 127.0.0.1) and on a user's URL file, deterministically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolpipe.core.timing import read_record
from poolpipe.crawl.demosite import SiteSpec, serve

from ..crawl_helpers import read_pages, url_lines
from ..workflow_helpers import same_result, snakemake, with_sheet, workflow_copy

pytestmark = pytest.mark.integration

TARGET = "results/crawl/urls/summary.json"
SMALL = {
    "demo": {"seed": 5, "crawl": {"pages": 60, "latency_ms": 5}},
    "crawl": {"chunks": 3, "threads": 2},
    "timing": {"compare_serial": True},
}
DEMO_ERRORS = {
    "dns": 1,
    "duplicate": 3,
    "invalid_url": 3,
    "redirect_loop": 1,
    "refused": 1,
    "robots": 1,
    "scheme": 4,
    "too_large": 2,
}
DEMO_STATUSES = {"200": 65, "302": 1, "404": 1, "410": 1, "503": 1}


@pytest.fixture(scope="module")
def crawl_run(tmp_path_factory) -> Iterator[Path]:
    """One run of the crawl stage on a small demo config."""
    workdir = workflow_copy(tmp_path_factory.mktemp("crawl"))
    run = snakemake(workdir, SMALL, TARGET)
    assert run.returncode == 0, run.stderr[-3000:]
    yield workdir


def test_one_row_per_url_line_in_input_order(crawl_run):
    rows = read_pages(crawl_run / "results/crawl/urls/pages.tsv")
    assert [r.line for r in rows] == url_lines((crawl_run / "data/urls.txt").read_bytes())
    summary = json.loads((crawl_run / TARGET).read_text())
    assert summary["rows"] == summary["urls"] == len(rows)
    assert summary["by_error"] == DEMO_ERRORS
    assert summary["by_status"] == DEMO_STATUSES
    assert (summary["chunks"], summary["demo_site"]) == (3, True)
    assert summary["retried_urls"] == 4
    assert set(summary["timing"]) == {"wall_s", "pages_per_s", "latency_ms"}


def test_every_crawl_job_leaves_a_timing_record(crawl_run):
    records = [read_record(p) for p in (crawl_run / "results/timing").rglob("*.json")]
    rules = {r.rule for r in records}
    assert {"demo_urls", "split_urls", "crawl_chunk", "merge_crawl"} <= rules
    chunks = sorted((r for r in records if r.rule == "crawl_chunk"), key=lambda r: r.chunk)
    assert [r.chunk for r in chunks] == [0, 1, 2]
    assert all(r.processes <= 2 and r.serial_wall_s is not None for r in chunks)
    summary = json.loads((crawl_run / TARGET).read_text())
    assert sum(r.items for r in chunks) == summary["urls"]
    assert sum(r.bytes for r in chunks) == summary["bytes"] > 0, "bytes: bodies downloaded"


def test_a_second_run_has_nothing_to_do(crawl_run):
    again = snakemake(crawl_run, SMALL, TARGET)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def _without_timing(workdir: Path) -> tuple[list[str], dict]:
    lines = (workdir / "results/crawl/urls/pages.tsv").read_text().splitlines()
    column = lines[0].split("\t").index("elapsed_ms")
    pages = ["\t".join(v for i, v in enumerate(line.split("\t")) if i != column) for line in lines]
    summary = json.loads((workdir / TARGET).read_text())
    summary.pop("timing")
    return pages, summary


def test_results_are_the_same_on_every_run(crawl_run, tmp_path):
    second = workflow_copy(tmp_path / "second")
    run = snakemake(second, SMALL, TARGET)
    assert run.returncode == 0, run.stderr[-3000:]
    for rel in [
        "data/urls.txt",
        "results/crawl/urls/chunks.tsv",
        "results/crawl/urls/duplicates.tsv",
        "results/crawl/urls/index.json",
    ]:
        assert same_result(crawl_run / rel, second / rel), rel
    assert _without_timing(crawl_run) == _without_timing(second)


def test_a_users_own_url_file_without_the_demo_site(tmp_path):
    with serve(SiteSpec(pages=20, max_seconds=300)) as site:
        own = tmp_path / "mine.txt"
        own.write_text(
            f"# my list\n{site.base}/page/1\n{site.base}/page/2\n\n{site.base}/status/404\n"
        )
        workdir = workflow_copy(tmp_path / "wf")
        rows = [{"name": "mine", "stage": "crawl", "path": own, "chunks": 2}]
        config = with_sheet(workdir, rows, {"crawl": {"demo_site": False}})
        run = snakemake(workdir, config, "results/crawl/mine/summary.json")
    assert run.returncode == 0, run.stderr[-3000:]
    rows = read_pages(workdir / "results/crawl/mine/pages.tsv")
    assert [(r.line, r.status, r.error) for r in rows] == [(2, 200, ""), (3, 200, ""), (5, 404, "")]
    assert not (workdir / "data/urls.txt").exists()


def test_parts_crawled_with_other_settings_are_not_merged_under_the_new_ones(tmp_path):
    # --rerun-triggers mtime keeps the chunks when a crawl setting changes: a merge run again
    # stated "schemes": ["https"] in summary.json beside the http pages fetched before
    with serve(SiteSpec(pages=20, max_seconds=300)) as site:
        own = tmp_path / "mine.txt"
        own.write_text(f"{site.base}/page/1\n{site.base}/page/2\n")
        workdir = workflow_copy(tmp_path / "wf")
        rows = [{"name": "mine", "stage": "crawl", "path": own, "chunks": 2}]
        config = with_sheet(workdir, rows, {"crawl": {"demo_site": False}})
        target = "results/crawl/mine/summary.json"
        summary = workdir / target
        assert snakemake(workdir, config, target).returncode == 0
        summary.unlink()
        config["crawl"]["schemes"] = ["https"]
        run = snakemake(workdir, config, target, "--rerun-triggers", "mtime")
        assert run.returncode != 0
        assert "was crawled with other crawl settings (schemes was ['http', 'https'], now" in (
            run.stderr
        )
        assert "delete results/crawl/mine/parts/ or run without --rerun-triggers" in run.stderr
        assert "Traceback" not in run.stderr and not summary.exists()
        again = snakemake(workdir, config, target)
    assert again.returncode == 0, again.stderr[-3000:]
    doc = json.loads(summary.read_text())
    assert (doc["settings"]["schemes"], doc["by_error"]) == (["https"], {"scheme": 2})


def test_crawl_settings_are_checked_by_the_schema(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, {"crawl": {"schemes": ["http", "file"]}}, "--dry-run")
    assert run.returncode != 0
    assert "config key 'crawl.schemes[1]': 'file' is not a valid value" in run.stdout + run.stderr
    typo = snakemake(workdir, {"crawl": {"timeouts": {"total": 3}}}, "--dry-run")
    assert typo.returncode != 0
    assert "config key 'crawl.timeouts.total' is not a setting" in typo.stdout + typo.stderr


def test_the_warc_store_joins_every_chunks_records_in_order(tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    workdir = workflow_copy(tmp_path / "warc")
    config = {**SMALL, "crawl": {"chunks": 2, "threads": 2, "store": "warc"}}
    config["timing"] = {"compare_serial": False}
    run = snakemake(workdir, config, TARGET)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = read_pages(workdir / "results/crawl/urls/pages.tsv")
    with open(workdir / "results/crawl/urls/pages.warc.gz", "rb") as fh:
        found = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)]
    archived = [r.final_url for r in rows if r.status is not None and not r.error]
    assert found == archived and len(found) > 60


def test_turning_the_warc_store_on_and_off_makes_and_removes_the_warc_files(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    config = {**SMALL, "stages": ["crawl"], "timing": {"compare_serial": False}}
    warcs = ["pages.warc.gz", "parts/0.warc.gz", "parts/1.warc.gz", "parts/2.warc.gz"]
    folder = workdir / "results/crawl/urls"
    for store, made in [("none", False), ("warc", True), ("none", False)]:
        config["crawl"] = {**SMALL["crawl"], "store": store}
        run = snakemake(workdir, config)
        assert run.returncode == 0, run.stderr[-3000:]
        assert [(folder / w).exists() for w in warcs] == [made] * len(warcs), store
