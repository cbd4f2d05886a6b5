"""The crawl stage: one row per URL line, fetched with deadlines, limits and robots.txt.

Modules, from the URL file to pages.tsv: urlfile (lines, repeats), ranges (a job's range or a
whole file over a pool), aengine (one worker's engine on an asyncio loop), afetch (one attempt
on it), wire (HTTP/1.1 as it reads it), conn (its connections), schedule (what both engines
share), engine (the engine with a thread per request, for fetchers given as objects), fetch
(one attempt with urllib3), guard (its hard deadline), robots, hostlimit (per-host limits
across processes), kinds (the error kinds of a row), rows (a row of pages.tsv), merge
(pages.tsv and the summary), demo and demosite (the demo URL list and the site it names),
settings, previous (an earlier pages.tsv for conditional requests), journal (resuming a killed
job), warc (the WARC store), progress (the live progress line).
"""

from poolpipe.crawl.demo import write_urls
from poolpipe.crawl.demosite import SiteSpec, demo_site, serve
from poolpipe.crawl.engine import GRACE_S
from poolpipe.crawl.kinds import ErrorKind
from poolpipe.crawl.merge import CrawlTally, iter_rows, summary, write_pages, write_parts
from poolpipe.crawl.progress import Progress, showing
from poolpipe.crawl.ranges import ChunkStats, crawl_file, crawl_range
from poolpipe.crawl.rows import PAGE_FIELDS, PageRow
from poolpipe.crawl.settings import CrawlSettings
from poolpipe.crawl.urlfile import UrlIndex, index_urls
from poolpipe.crawl.warc import join_warcs

__all__ = [
    "GRACE_S",
    "PAGE_FIELDS",
    "ChunkStats",
    "CrawlSettings",
    "CrawlTally",
    "ErrorKind",
    "PageRow",
    "Progress",
    "SiteSpec",
    "UrlIndex",
    "crawl_file",
    "crawl_range",
    "demo_site",
    "index_urls",
    "iter_rows",
    "join_warcs",
    "serve",
    "showing",
    "summary",
    "write_pages",
    "write_parts",
    "write_urls",
]
