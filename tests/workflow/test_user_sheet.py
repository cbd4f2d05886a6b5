"""Integration: a user's own sheet runs each job once and touches only the user's servers.

The demo's comparisons (timing.compare_serial, train.compare_full_fit) and its web site
(crawl.demo_site) are on in config/config.yaml; on a sheet of the user's they stay off unless a
row opts in. A local HTTP server counts every request it gets."""

from __future__ import annotations

import collections
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from poolpipe.core.timing import read_record

from ..crawl_helpers import read_pages
from ..workflow_helpers import snakemake, with_sheet, workflow_copy

pytestmark = pytest.mark.integration
CHUNKS = 2
TARGETS = [
    "results/sum/april/total.json",
    "results/train/feat/model.json",
    "results/crawl/web/summary.json",
]
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


class CountingServer(http.server.ThreadingHTTPServer):
    """A server on 127.0.0.1 that counts the requests for each path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    """robots.txt, /page/N (200) and /gone/N (404)."""

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, CountingServer)
        with server.lock:
            server.counts[self.path] += 1
        if self.path == "/robots.txt":
            status, body = 200, ROBOTS
        elif self.path.startswith("/page/"):
            status, body = 200, f"<html><body>{self.path}</body></html>".encode()
        else:
            status, body = 404, b"not here"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if status != 200 else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def dead_port() -> int:
    """A loopback port that nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def servers() -> Iterator[list[CountingServer]]:
    """Two counting servers, two hosts as robots.txt sees them (origins differ by port)."""
    started = [CountingServer(), CountingServer()]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in started]
    for thread in threads:
        thread.start()
    yield started
    for server, thread in zip(started, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def user_files(tmp_path: Path, bases: list[str]) -> tuple[list[dict], list[str]]:
    """A user's numbers, training rows and URLs (alternating hosts, some 404, a dead port)."""
    (tmp_path / "april.txt").write_text("".join(f"{i}\n" for i in range(1, 2001)))
    rows = ["a,b,y"] + [f"{i},{i % 7},{3 * i - 2 * (i % 7) + 1}" for i in range(400)]
    (tmp_path / "feat.csv").write_text("\n".join(rows) + "\n")
    urls = []
    for i in range(12):
        urls.append(f"{bases[i % 2]}/{'gone' if i % 5 == 4 else 'page'}/{i}")
    urls.insert(6, f"http://127.0.0.1:{dead_port()}/page/x")
    (tmp_path / "web.txt").write_text("\n".join(urls) + "\n")
    sheet = [
        {"name": "april", "stage": "sum", "path": tmp_path / "april.txt", "chunks": CHUNKS},
        {"name": "feat", "stage": "train", "path": tmp_path / "feat.csv", "chunks": CHUNKS},
        {"name": "web", "stage": "crawl", "path": tmp_path / "web.txt", "chunks": CHUNKS},
    ]
    return sheet, urls


def test_a_users_run_does_each_job_once_and_each_url_once(tmp_path, servers):
    workdir = workflow_copy(tmp_path / "wf")
    sheet, urls = user_files(tmp_path, [s.base for s in servers])
    config = with_sheet(workdir, sheet, {"stages": ["sum", "train", "crawl"]})
    config["train"] = {"target": "y", "chunks": CHUNKS, "threads": 2}
    config["crawl"] = {"chunks": CHUNKS, "threads": 2, "retries": {"max": 0}}
    run = snakemake(workdir, config, *TARGETS)
    assert run.returncode == 0, run.stderr[-3000:]

    for server in servers:
        pages = {p: n for p, n in server.counts.items() if p != "/robots.txt"}
        mine = {u.removeprefix(server.base) for u in urls if u.startswith(server.base + "/")}
        assert pages == dict.fromkeys(mine, 1)
        assert server.counts["/robots.txt"] == CHUNKS  # once per host per crawl_chunk job
    rows = read_pages(workdir / "results/crawl/web/pages.tsv")
    assert [r.error != "" for r in rows].count(True) == 1  # the dead port's row
    summary = json.loads((workdir / "results/crawl/web/summary.json").read_text())
    assert summary["demo_site"] is False
    assert not (workdir / "data").exists()

    model = json.loads((workdir / "results/train/feat/model.json").read_text())
    assert "full_fit" not in model and model["rows"] == 400
    for job, dataset in [("sum_chunk", "april"), ("train_chunk", "feat"), ("crawl_chunk", "web")]:
        records = [read_record(p) for p in (workdir / "results/timing" / job).rglob("*.json")]
        assert len(records) == CHUNKS
        for record in records:
            assert record.serial_wall_s is None and record.serial_started_at is None
            assert record.serial_note == (
                f"not measured: dataset {dataset!r} is not a demo dataset; set compare_serial "
                "in its sheet row's demo_settings column to measure"
            )


def test_a_row_that_opts_in_gets_the_comparisons(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    sheet, _ = user_files(tmp_path, ["http://127.0.0.1:9"] * 2)  # no crawl in this run
    sheet[0]["demo_settings"] = "compare_serial"
    sheet[1]["demo_settings"] = "compare_serial, compare_full_fit"
    config = with_sheet(workdir, sheet[:2], {"stages": ["sum", "train"]})
    config["train"] = {"target": "y", "chunks": CHUNKS, "threads": 2}
    run = snakemake(workdir, config, *TARGETS[:2])
    assert run.returncode == 0, run.stderr[-3000:]
    model = json.loads((workdir / "results/train/feat/model.json").read_text())
    assert model["full_fit"] is not None
    for job in ("sum_chunk", "train_chunk"):
        records = [read_record(p) for p in (workdir / "results/timing" / job).rglob("*.json")]
        assert len(records) == CHUNKS
        assert all(r.serial_wall_s is not None and r.serial_note is None for r in records)
