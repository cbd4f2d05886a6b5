"""robots.txt asked once per job: the processes of a job share their answers through a folder."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from poolpipe.crawl.robots import RobotsCache, RobotsEntry

ORIGIN = "http://127.0.0.1:9"


def _ask(shared: str, log: str) -> bool:
    """One process's first question about ORIGIN: fetch (logged) unless another answered."""
    cache = RobotsCache("poolpipe/1", shared=shared)
    entry, mine = cache.entry(ORIGIN)
    assert mine

    def fetch() -> None:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        entry.settle(200, b"User-agent: *\nDisallow: /private/\n")

    cache.settle_once(ORIGIN, entry, fetch, timeout=60)
    return entry.allows("poolpipe", ORIGIN + "/private/x")


def test_the_processes_of_a_job_fetch_robots_txt_once(tmp_path: Path):
    log = tmp_path / "fetches.log"
    with mp.get_context("fork").Pool(4) as pool:
        verdicts = pool.starmap(_ask, [(str(tmp_path), str(log))] * 8)
    assert verdicts == [False] * 8
    assert len(log.read_text().splitlines()) == 1


def test_a_failed_fetch_leaves_no_answer(tmp_path: Path):
    cache = RobotsCache("poolpipe/1", shared=str(tmp_path))

    def fail() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        cache.settle_once(ORIGIN, RobotsEntry(), fail, timeout=5)
    assert not list(tmp_path.glob("*.answer"))
    assert _ask(str(tmp_path), str(tmp_path / "log")) is False
