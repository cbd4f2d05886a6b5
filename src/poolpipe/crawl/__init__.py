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

Names load on first use (PEP 562), as poolpipe.core's do: the workflow checks the crawl's
settings at its start without loading the engine, urllib3 and warcio.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WHERE = {
    "GRACE_S": "engine",
    "PAGE_FIELDS": "rows",
    "ChunkStats": "ranges",
    "CrawlSettings": "settings",
    "CrawlTally": "merge",
    "ErrorKind": "kinds",
    "PageRow": "rows",
    "Progress": "progress",
    "SiteSpec": "demosite",
    "UrlIndex": "urlfile",
    "crawl_file": "ranges",
    "crawl_range": "ranges",
    "crawl_workers": "ranges",
    "demo_site": "demosite",
    "index_urls": "urlfile",
    "iter_rows": "merge",
    "join_warcs": "warc",
    "serve": "demosite",
    "showing": "progress",
    "summary": "merge",
    "write_pages": "merge",
    "write_parts": "merge",
    "write_urls": "demo",
}
"""Each public name and the module of poolpipe.crawl it lives in."""


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'poolpipe.crawl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"poolpipe.crawl.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


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
    "crawl_workers",
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
