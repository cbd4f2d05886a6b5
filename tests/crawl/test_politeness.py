"""Politeness within bounds: robots.txt's Crawl-delay (capped at crawl_delay_max) and the
adaptive per-host delay (between per_host_delay and autothrottle.max_delay), both shared by
every process of a crawl. Lower bounds on time only: a wait that must have happened."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise

import pytest

from poolpipe.core.chunks import split_file
from poolpipe.crawl.demosite import SiteSpec, serve
from poolpipe.crawl.engine import Engine
from poolpipe.crawl.hostlimit import HostLimiter, Throttle
from poolpipe.crawl.ranges import crawl_range
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.errors import PoolpipeError

from ..crawl_helpers import poolpipe, site_stats
from ..workflow_helpers import snakemake, with_sheet, workflow_copy

SETTINGS = CrawlSettings(concurrency=4, per_host=2, deadline=10.0, retries=0)


def page_gaps(site, name: str) -> list[float]:
    """Seconds between the arrivals of consecutive requests for the test's pages."""
    times = [t for path, t in site_stats(site)["arrivals"] if path.endswith(f"?{name}")]
    return [b - a for a, b in pairwise(sorted(times))]


def spaced(gaps: list[float], delay: float) -> bool:
    """Whether requests came delay apart on average, within half of it.

    The crawler spaces its sends; the server records arrivals, each late by its own scheduling
    latency, so one gap can be short by what a busy machine adds to the request before it. The
    span of the gaps loses only the first request's lateness: its mean is the robust measure.
    """
    return sum(gaps) >= 0.5 * delay * len(gaps)


def crawl_pages(tmp_path, site, name: str, settings: CrawlSettings, count: int = 6) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(f"{site.base}/page/{i}?{name}\n" for i in range(count)))
    crawl_range(split_file(urls, 1)[0], settings, processes=2, out=tmp_path / "part.jsonl")


@pytest.fixture
def slow_robots() -> Iterator:
    """A site whose robots.txt asks for a Crawl-delay of 30 s."""
    with serve(SiteSpec(pages=50, crawl_delay=30.0, max_seconds=300)) as site:
        yield site


def test_crawl_delay_spaces_requests_to_a_host_across_processes(tmp_path):
    with serve(SiteSpec(pages=50, crawl_delay=0.3, max_seconds=300)) as site:
        crawl_pages(tmp_path, site, "delay", SETTINGS)
        gaps = page_gaps(site, "delay")
    # the first per_host requests start before robots.txt is read; every later one waits
    assert len(gaps) == 5 and spaced(gaps[SETTINGS.per_host - 1 :], 0.3), gaps


def test_crawl_delay_is_capped_at_crawl_delay_max(tmp_path, slow_robots):
    crawl_pages(tmp_path, slow_robots, "capped", replace(SETTINGS, crawl_delay_max=0.2))
    gaps = page_gaps(slow_robots, "capped")
    assert spaced(gaps[SETTINGS.per_host - 1 :], 0.2), gaps


def test_the_robots_delay_bound_in_the_table():
    limiter = HostLimiter(4, 0.05, stripes=8, throttle=Throttle(crawl_delay_max=2.0))
    limiter.crawl_delay(3, 100.0)
    assert limiter.delay_of(3) == 2.0 and limiter.delay_of(2) == 0.05
    off = HostLimiter(4, 0.05, stripes=8, throttle=Throttle(crawl_delay_max=0.0))
    off.crawl_delay(3, 100.0)
    assert off.delay_of(3) == 0.05


def test_the_adaptive_delay_stays_within_its_bounds():
    throttle = Throttle(autothrottle=True, target_concurrency=2.0, max_delay=1.5)
    limiter = HostLimiter(4, 0.1, stripes=8, throttle=throttle)
    for _ in range(50):
        limiter.observe(1, 1000.0, ok=True)
    assert limiter.delay_of(1) == 1.5, "never above max_delay"
    limiter.observe(1, 0.0, ok=False)
    assert limiter.delay_of(1) == 1.5, "an error answer never lowers it"
    for _ in range(60):
        limiter.observe(1, 0.0, ok=True)
    assert limiter.delay_of(1) == 0.1, "never below per_host_delay"
    limiter.observe(1, 1.2, ok=True)
    assert limiter.delay_of(1) == pytest.approx(0.3, abs=1e-6), "halfway to 1.2 / 2"


def test_the_adaptive_delay_is_shared_by_forked_processes():
    throttle = Throttle(autothrottle=True, target_concurrency=1.0, max_delay=5.0)
    limiter = HostLimiter(4, 0.0, stripes=8, throttle=throttle)
    child = mp.get_context("fork").Process(target=limiter.observe, args=(5, 2.0, True))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and limiter.delay_of(5) == 1.0


def test_off_the_latency_leaves_the_delay_alone():
    limiter = HostLimiter(4, 0.0, stripes=8)
    limiter.observe(1, 10.0, ok=True)
    assert limiter.delay_of(1) == 0.0


def test_the_engine_feeds_each_response_latency_to_the_table():
    throttle = Throttle(autothrottle=True, target_concurrency=1.0, max_delay=0.5)
    limiter = HostLimiter(8, 0.0, throttle=throttle)
    with serve(SiteSpec(pages=50, latency=0.1, max_seconds=300)) as site:
        engine = Engine(SETTINGS, threads=2, limiter=limiter)
        rows = list(engine.run((i + 1, f"{site.base}/page/{i}") for i in range(4)))
        slot = limiter.slot("127.0.0.1")
    assert [r.status for r in rows] == [200] * 4
    assert 0.05 <= limiter.delay_of(slot) <= 0.5


@pytest.mark.parametrize(
    ("field", "value"),
    [("crawl_delay_max", 61.0), ("autothrottle_target", 0.0), ("autothrottle_max_delay", -1.0)],
)
def test_politeness_settings_out_of_range_are_one_sentence(field, value):
    with pytest.raises(PoolpipeError, match="crawl settings"):
        CrawlSettings(**{field: value})


def test_robots_txt_is_asked_once_per_host_per_job_with_several_processes(tmp_path):
    with (
        serve(SiteSpec(pages=50, max_seconds=300)) as one,
        serve(SiteSpec(pages=50, max_seconds=300)) as two,
    ):
        urls = tmp_path / "urls.txt"
        lines = [f"{site.base}/page/{i}?once" for i in range(40) for site in (one, two)]
        urls.write_text("".join(f"{line}\n" for line in lines))
        settings = replace(SETTINGS, concurrency=8, per_host=4)
        crawl_range(split_file(urls, 1)[0], settings, processes=4, out=tmp_path / "part.jsonl")
        # and the command, which runs one job over the whole file
        out = tmp_path / "pages.tsv"
        cmd = ["crawl", str(urls), "--out", str(out), "--processes", "4", "--concurrency", "8"]
        assert poolpipe(*cmd).returncode == 0
        hits = [site_stats(site)["hits"] for site in (one, two)]
    assert [h["/robots.txt"] for h in hits] == [2, 2], "once per host in each of the two jobs"
    assert all(h[f"/page/{i}?once"] == 2 for h in hits for i in range(40))


def test_a_users_sheet_asks_each_url_once_and_robots_once_per_host_per_job(tmp_path):
    with (
        serve(SiteSpec(pages=50, max_seconds=300)) as one,
        serve(SiteSpec(pages=50, max_seconds=300)) as two,
    ):
        own = tmp_path / "mine.txt"
        lines = [f"{site.base}/page/{i}?sheet" for i in range(20) for site in (one, two)]
        own.write_text("".join(f"{line}\n" for line in lines))
        workdir = workflow_copy(tmp_path / "wf")
        rows = [{"name": "mine", "stage": "crawl", "path": own, "chunks": 2}]
        config = {"crawl": {"demo_site": False, "threads": 2, "concurrency": 8}}
        run = snakemake(workdir, with_sheet(workdir, rows, config), "results/crawl/mine/pages.tsv")
        hits = [site_stats(site)["hits"] for site in (one, two)]
    assert run.returncode == 0, run.stderr[-3000:]
    assert all(h[f"/page/{i}?sheet"] == 1 for h in hits for i in range(20))
    # two jobs, each with URLs of both hosts and two processes: robots.txt once per job
    assert [h["/robots.txt"] for h in hits] == [2, 2]
