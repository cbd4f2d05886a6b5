"""The deterministic demo URL list, made from a seed so a bare run needs no data."""

from __future__ import annotations

import os

import numpy as np

from poolpipe.core.outputs import open_atomic
from poolpipe.crawl.demosite import CLOSED_HOST, DEMO_HOST
from poolpipe.errors import PoolpipeError

DEMO_SPECIAL_PATHS = (
    "/status/404",
    "/status/410",
    "/status/503",
    "/flaky/demo?fails=1",
    "/retry-after/demo?fails=1&seconds=1",
    "/redirect/3",
    "/loop/demo",
    "/redirect-to?url=file:///etc/passwd",
    "/private/demo",
    "/big?bytes=11000000",
    "/big?bytes=11000000&chunked=1",
)
"""Paths of the demo site that show each kind of row (see poolpipe.crawl.demosite)."""

DEMO_OTHER_URLS = (
    "file:///etc/passwd",
    "ftp://{host}/file.txt",
    "mailto:someone@{host}",
    "http://no-such-host.invalid/",
    "http://{closed}/",
    "http://[::1",
    "not a url",
    "https://",
)
"""Lines that are not fetchable: other schemes, an unknown host, a refused port, bad URLs."""


def write_urls(
    path: str | os.PathLike[str],
    *,
    pages: int,
    seed: int,
    duplicates: int = 3,
    host: str = DEMO_HOST,
    closed: str = CLOSED_HOST,
) -> int:
    """Write the demo URL file: the demo site's pages in a seeded order, the special paths and
    other lines at seeded places, some repeats, blank lines and comments; return its size."""
    rng = np.random.default_rng(seed)
    base = f"http://{host}"
    urls = [f"{base}/page/{int(i)}" for i in rng.permutation(pages)]
    extra = [base + p for p in DEMO_SPECIAL_PATHS]
    extra += [u.format(host=host, closed=closed) for u in DEMO_OTHER_URLS]
    if duplicates and not urls:
        raise PoolpipeError(f"{duplicates:,} repeated lines need at least one page to repeat")
    extra += [urls[int(i)] for i in rng.choice(len(urls), size=duplicates)]
    extra += ["", "# a comment line", "   "]
    lines = list(urls)
    for item in extra:
        lines.insert(int(rng.integers(0, len(lines) + 1)), item)
    head = [
        "# poolpipe's demo crawl list: the demo site's pages and one of each kind of problem.",
        f"# {host} is the demo site the workflow runs on 127.0.0.1 while it crawls.",
    ]
    data = ("\n".join(head + lines) + "\n").encode()
    with open_atomic(path) as fh:
        fh.write(data)
    return len(data)
