"""Shared pieces of the crawl tests: the test site, reading pages.tsv back.

Every HTTP request in these tests goes to a poolpipe.crawl.demosite server on 127.0.0.1 started
by the tests (a subprocess whose request loops are bounded in count and time), or to a name
under .invalid, which the crawler never looks up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from poolpipe.crawl.demosite import Site
from poolpipe.crawl.rows import PAGE_FIELDS, PageRow

POOLPIPE = str(Path(sys.executable).parent / "poolpipe")


def poolpipe(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the poolpipe command, bounded in time."""
    return subprocess.run(
        [POOLPIPE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def site_stats(site: Site) -> dict:
    """The test site's /__stats__ document."""
    with urllib.request.urlopen(f"{site.base}/__stats__", timeout=10) as response:
        return json.loads(response.read())


def _unescape(text: str) -> str:
    """Reference: a pages.tsv field decoded independently of poolpipe.core.tsv."""
    out = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append({"t": "\t", "n": "\n", "r": "\r", "0": "\0", "\\": "\\"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def read_pages(path: Path) -> list[PageRow]:
    """Rows of a pages.tsv, typed back."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == list(PAGE_FIELDS)
    rows = []
    for line in lines[1:]:
        f = [_unescape(v) for v in line.split("\t")]
        rows.append(
            PageRow(
                line=int(f[0]),
                url=f[1],
                final_url=f[2],
                status=int(f[3]) if f[3] else None,
                bytes=int(f[4]),
                elapsed_ms=int(f[5]) if f[5] else None,
                attempts=int(f[6]),
                error=f[7],
                detail=f[8],
                content_type=f[9],
                sha256=f[10],
                etag=f[11],
                last_modified=f[12],
            )
        )
    return rows


def url_lines(data: bytes) -> list[int]:
    """Reference: numbers of the lines that are URLs (not blank, not # comments)."""
    numbers = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.strip(b" \t\r\f\v")
        if text and not text.startswith(b"#"):
            numbers.append(number)
    return numbers
