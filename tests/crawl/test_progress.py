"""The live progress line of `poolpipe crawl`: on a terminal, on stderr only; never in the
outputs, and not at all when stderr is not a terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

from poolpipe.crawl.demosite import SiteSpec, serve

from ..crawl_helpers import POOLPIPE, poolpipe, read_pages

READ_S = 120.0


def test_the_progress_line_goes_to_a_terminal_on_stderr_only(tmp_path):
    with serve(SiteSpec(pages=100, latency=0.02, max_seconds=300)) as site:
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{site.base}/page/{i}\n" for i in range(40)) + "ftp://x/\n")
        out = tmp_path / "pages.tsv"
        leader, follower = pty.openpty()
        try:
            proc = subprocess.Popen(
                [POOLPIPE, "crawl", str(urls), "--out", str(out), "--concurrency", "2"],
                stdout=subprocess.PIPE,
                stderr=follower,
            )
            os.close(follower)
            seen = b""
            end = time.monotonic() + READ_S
            while time.monotonic() < end:
                ready, _, _ = select.select([leader], [], [], 1.0)
                if not ready:
                    if proc.poll() is not None:
                        break
                    continue
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            stdout, _ = proc.communicate(timeout=60)
        finally:
            os.close(leader)
    assert proc.returncode == 0
    text = seen.decode()
    assert "crawl: 41 rows" in text and "pages/s, 1 errors" in text
    summary = json.loads(stdout)
    assert summary["rows"] == 41
    assert len(read_pages(out)) == 41 and "pages/s," not in out.read_text()


def test_no_progress_line_when_stderr_is_not_a_terminal(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("http://x.invalid/\n")
    run = poolpipe("crawl", str(urls), "--out", str(tmp_path / "pages.tsv"))
    assert run.returncode == 0 and run.stderr == ""
    assert json.loads(run.stdout)["rows"] == 1
