"""Ctrl-C to a pool's whole process group, many times over: count the runs that print anything
but the one line `poolpipe: stopped by SIGINT`, exit other than 130 or leave a worker behind.

The scenario is tests/core/test_pool.py's test_signal_to_the_process_group_stops_through_the_parent
(a parent running run_guarded(pool_map) with 2 busy workers, SIGINT to its process group), run
--runs times, --parallel at once, so that the machine is loaded while the signals land.

    .venv/bin/python bench/ctrlc_stress.py --runs 200 --parallel 4
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.core.test_pool import HELPER  # the test's own helper script

WAIT_S = 60.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def one_run(script: Path, work: Path, sig: signal.Signals) -> str:
    """One run; '' when it ended as it should, else what went wrong."""
    pids = work / "pids"
    pids.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(pids)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + WAIT_S
        while len(list(pids.iterdir())) < 2 and proc.poll() is None:
            if time.monotonic() > deadline:
                return "workers never started"
            time.sleep(0.01)
        workers = {int(p.name) for p in pids.iterdir()}
        os.killpg(proc.pid, sig)
        _, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    want = f"poolpipe: stopped by {sig.name}"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    if "Traceback" in stderr:
        return "traceback: " + stderr.strip().splitlines()[-1]
    if proc.returncode != 128 + sig or stderr.splitlines() != [want]:
        return f"exit {proc.returncode}, stderr {stderr.strip()[-200:]!r}"
    if any(_alive(pid) for pid in workers):
        return "a worker outlived its parent"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, choices=range(1, 100_001), metavar="N")
    parser.add_argument("--parallel", type=int, default=4, choices=range(1, 65), metavar="N")
    parser.add_argument("--signal", choices=["SIGINT", "SIGTERM"], default="SIGINT")
    args = parser.parse_args()
    sig = signal.Signals[args.signal]
    with tempfile.TemporaryDirectory(prefix="ctrlc-stress-") as tmp:
        script = Path(tmp) / "slow_pool.py"
        script.write_text(HELPER)
        works = [Path(tmp) / str(i) for i in range(args.runs)]
        for work in works:
            work.mkdir()
        start = time.monotonic()
        with ThreadPoolExecutor(args.parallel) as threads:
            outcomes = list(threads.map(lambda w: one_run(script, w, sig), works))
        wall = time.monotonic() - start
    bad = [o for o in outcomes if o]
    tracebacks = sum(o.startswith("traceback") for o in bad)
    for outcome in sorted(set(bad)):
        print(f"  {bad.count(outcome)} x {outcome}")
    print(
        f"{args.signal} to the process group: {args.runs} runs ({args.parallel} at once, "
        f"{wall:.0f} s, load {os.getloadavg()[0]:.1f}): {tracebacks} tracebacks, "
        f"{len(bad) - tracebacks} other failures"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
