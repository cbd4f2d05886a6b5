"""Where the time of `poolpipe sum` goes: interpreter start, imports, pool start, block reads, the
scan itself, and the whole in-process sum, each timed on its own.

Run `python bench/sumprofile.py FILE [--processes N]` (bench/sum.py runs it after its table); it
prints one JSON object. Each figure is the median of a few runs; the file should be in the page
cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

GB = 10**9
SCAN_BYTES = 256 << 20
"""The scan is timed on this much of the file, read into memory first (no I/O in its time)."""


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of fn over repeats calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def start_seconds(code: str, repeats: int) -> tuple[float, float]:
    """Median wall seconds of `python -c pass`, and the median of what `python -c code` takes
    more, each in a fresh interpreter, the two run in turn (the machine's speed moves from
    second to second: a difference of two separate medians is mostly that)."""
    bare, more = [], []
    for _ in range(repeats):
        empty = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 1)
        full = timed(lambda: subprocess.run([sys.executable, "-c", code], check=True), 1)
        bare.append(empty)
        more.append(full - empty)
    return statistics.median(bare), statistics.median(more)


def profile(path: str, processes: int, repeats: int = 5) -> dict[str, Any]:
    """Each part of a sum timed on its own; throughputs in GB/s, times in ms."""
    bare, imports = start_seconds("import poolpipe.cli, poolpipe.sum", max(repeats, 21))
    from poolpipe.core import Range, iter_blocks, pool_map
    from poolpipe.sum import SCANNER, sum_ranges
    from poolpipe.sum import numbers as internals

    size = os.path.getsize(path)
    whole = Range(path, 0, size)
    read = timed(lambda: sum(len(b.data) for b in iter_blocks(whole)), repeats)
    with open(path, "rb") as fh:
        head = fh.read(SCAN_BYTES)
    head = head[: head.rfind(b"\n") + 1] or head
    scan = timed(lambda: internals._scan.scan(head, 10), repeats)
    pool = timed(lambda: list(pool_map(abs, range(processes), processes)), repeats)
    one = timed(lambda: sum_ranges([whole], 1, serial=True), max(1, repeats // 2))
    return {
        "scanner": SCANNER,
        "kernel": getattr(internals._scan, "KERNEL", None),
        "interpreter_start_ms": 1000 * bare,
        "imports_ms": 1000 * imports,
        "pool_start_ms": 1000 * pool,
        "pool_processes": processes,
        "block_read_gbps": size / read / GB,
        "scan_gbps": len(head) / scan / GB,
        "sum_one_process_gbps": size / one / GB,
    }


def scanner_name(found: dict[str, Any]) -> str:
    """The scanner in words: "C (avx2 kernel)" or "numpy"."""
    kernel = found.get("kernel")
    return f"{found['scanner']} ({kernel} kernel)" if kernel else found["scanner"]


def lines(found: dict[str, Any]) -> list[str]:
    """The profile as printed under the table."""
    return [
        "where the time goes (medians; each part timed on its own, in one fresh process):",
        f"  interpreter start {found['interpreter_start_ms']:.0f} ms, then importing"
        f" poolpipe.cli and poolpipe.sum {found['imports_ms']:.0f} ms, then starting a pool of"
        f" {found['pool_processes']} and running a no-op task each {found['pool_start_ms']:.0f} ms",
        f"  reading the file in 4 MiB blocks (readinto, one reused buffer):"
        f" {found['block_read_gbps']:.2f} GB/s; the {scanner_name(found)} scanner on a buffer in"
        f" memory: {found['scan_gbps']:.2f} GB/s; both, as sum_ranges in one process:"
        f" {found['sum_one_process_gbps']:.2f} GB/s",
    ]


def main() -> int:
    """Print the profile of one file as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(json.dumps(profile(args.file, args.processes, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
