"""Deterministic demo inputs, made from a seed so a bare run needs no data of the user's."""

from __future__ import annotations

import os

import numpy as np

from poolpipe.files import open_atomic

NUMBER_BOUND = 9_999_999_999
"""Demo numbers are uniform in [-NUMBER_BOUND, NUMBER_BOUND]: signed, up to ten digits."""

BAD_SAMPLES = (b"twelve", b"1.5", b"1e3", b"0x10", b"\xff\xfe", b"4\x002", b"1_000")
_BLOCK_LINES = 1 << 20


def write_numbers(
    path: str | os.PathLike[str], lines: int, seed: int, blank_lines: int = 0, bad_lines: int = 0
) -> int:
    """Write the demo numbers file (given counts of its lines blank or bad); return its size."""
    rng = np.random.default_rng(seed)
    special = min(lines, blank_lines + bad_lines)
    where = (
        sorted(int(i) for i in rng.choice(lines, size=special, replace=False)) if special else []
    )
    replace = {
        index: b"" if k < blank_lines else BAD_SAMPLES[k % len(BAD_SAMPLES)]
        for k, index in enumerate(where)
    }
    size = 0
    with open_atomic(path) as fh:
        for first in range(0, lines, _BLOCK_LINES):
            count = min(_BLOCK_LINES, lines - first)
            values = rng.integers(-NUMBER_BOUND, NUMBER_BOUND, size=count, endpoint=True)
            out = [str(v).encode() for v in values.tolist()]
            for index in (i for i in where if first <= i < first + count):
                out[index - first] = replace[index]
            data = b"\n".join(out) + b"\n"
            fh.write(data)
            size += len(data)
    return size


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
"""Paths of the demo site that show each kind of row (see poolpipe.demosite)."""

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
    pages: int,
    seed: int,
    duplicates: int = 3,
    host: str = "demo.poolpipe.invalid",
    closed: str = "closed.poolpipe.invalid",
) -> int:
    """Write the demo URL file: the demo site's pages in a seeded order, the special paths and
    other lines at seeded places, some repeats, blank lines and comments; return its size."""
    rng = np.random.default_rng(seed)
    base = f"http://{host}"
    urls = [f"{base}/page/{int(i)}" for i in rng.permutation(pages)]
    extra = [base + p for p in DEMO_SPECIAL_PATHS]
    extra += [u.format(host=host, closed=closed) for u in DEMO_OTHER_URLS]
    extra += [urls[int(i)] for i in rng.choice(len(urls), size=min(duplicates, len(urls)))]
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
