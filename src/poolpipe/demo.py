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


TRAIN_DECIMALS = 6
"""Decimals of every value in the demo training file."""

_TRAIN_BLOCK_ROWS = 1 << 16


def _bad_fields(fields: list[str], kind: int) -> list[str]:
    """One of five ways a demo training row goes bad: empty, NA, text, a missing field, 1.2.3."""
    out = list(fields)
    if kind == 0:
        out[0] = ""
    elif kind == 1:
        out[-1] = "NA"
    elif kind == 2:
        out[0] = "n/a"
    elif kind == 3:
        out.pop()
    else:
        out[-1] = "1.2.3"
    return out


def train_header(features: int) -> list[str]:
    """Column names of the demo training file: x1..xN, then y."""
    return [f"x{i + 1}" for i in range(features)] + ["y"]


def write_train(
    path: str | os.PathLike[str],
    rows: int,
    seed: int,
    coef: list[float],
    intercept: float,
    noise: float,
    bad_rows: int = 0,
) -> int:
    """Write the demo training CSV: x ~ U(0, 1), y = x @ coef + intercept + N(0, noise); its size.

    bad_rows of the rows, chosen by the seed, are made unusable to show the reporting.
    """
    rng = np.random.default_rng(seed)
    width = len(coef) + 1
    special = min(rows, bad_rows)
    where = sorted(int(i) for i in rng.choice(rows, size=special, replace=False)) if special else []
    kind = {index: k % 5 for k, index in enumerate(where)}
    fmt = ",".join([f"%.{TRAIN_DECIMALS}f"] * width) + "\n"
    weights = np.asarray(coef, dtype=float)
    size = 0
    with open_atomic(path) as fh:
        head = (",".join(train_header(len(coef))) + "\n").encode()
        fh.write(head)
        size += len(head)
        for first in range(0, rows, _TRAIN_BLOCK_ROWS):
            count = min(_TRAIN_BLOCK_ROWS, rows - first)
            x = rng.random((count, len(coef)))
            y = x @ weights + intercept + rng.standard_normal(count) * noise
            text = (fmt * count) % tuple(np.column_stack([x, y]).ravel().tolist())
            bad = [i for i in where if first <= i < first + count]
            if bad:
                lines = text.split("\n")
                for index in bad:
                    fields = lines[index - first].split(",")
                    lines[index - first] = ",".join(_bad_fields(fields, kind[index]))
                text = "\n".join(lines)
            data = text.encode()
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
