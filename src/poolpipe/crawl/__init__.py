"""The crawl stage: one row per URL line, fetched with deadlines, limits and robots.txt."""

from poolpipe.crawl.demo import write_urls
from poolpipe.crawl.demosite import SiteSpec, serve
from poolpipe.crawl.engine import GRACE_S, crawl_range
from poolpipe.crawl.merge import crawl_file, demo_site, iter_rows, summary, write_pages
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import UrlIndex, index_urls

__all__ = [
    "GRACE_S",
    "CrawlSettings",
    "SiteSpec",
    "UrlIndex",
    "crawl_file",
    "crawl_range",
    "demo_site",
    "index_urls",
    "iter_rows",
    "serve",
    "summary",
    "write_pages",
    "write_urls",
]
