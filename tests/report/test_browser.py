"""The default run's report as a newcomer sees it: headless Chromium at 1400 px, full page.

Chromium is installed with apt-get where it is missing (root, Debian), as the SLURM test does
for SLURM; run with `make test-browser` (part of `make test`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ..workflow_helpers import snakemake, workflow_copy

pytestmark = pytest.mark.browser
WIDTH = 1400
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell")
METRICS = """<script>addEventListener("load", () => {
  const d = document.documentElement;
  const m = {scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, height: d.scrollHeight,
    images: [...document.images].map(i => ({done: i.complete, width: i.naturalWidth,
      shown: i.getBoundingClientRect().width, alt: i.alt}))};
  const p = document.createElement("pre"); p.id = "metrics"; p.textContent = JSON.stringify(m);
  document.body.appendChild(p);
});</script>"""


def _find() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    """A headless Chromium, installed with apt-get when missing and allowed."""
    found = _find()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            subprocess.run(cmd, env=env, capture_output=True, check=False, timeout=900)
        found = _find()
    if found is None:
        why = "the screenshot test needs Chromium (root and apt-get install it)"
        if os.environ.get("CI"):
            pytest.fail(why + ", and CI must run it")
        pytest.skip(why)
    return found


@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> Path:
    """The report of a bare run of the workflow with its default config."""
    workdir = workflow_copy(tmp_path_factory.mktemp("default"))
    run = snakemake(workdir)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir / "results" / "report" / "report.html"


def _browse(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += ["--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def test_the_default_report_fits_1400_px_and_shows_every_plot(chromium, default_report, tmp_path):
    page = default_report.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", METRICS + "</body>"))
    dumped = _browse(chromium, f"--window-size={WIDTH},1000", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="metrics">(.*?)</pre>', dumped.stdout)
    assert found, dumped.stderr[-2000:]
    metrics = json.loads(found.group(1))
    assert metrics["scrollWidth"] <= metrics["clientWidth"], "the page scrolls sideways"
    titles = [img["alt"] for img in metrics["images"]]
    for wanted in ("Timeline", "Stages", "What a pool costs", "CPU scaling (bench_cpu)"):
        assert wanted in titles, f"no {wanted} plot"
    assert len(metrics["images"]) == page.count("<img ")
    for img in metrics["images"]:
        assert img["done"] and img["width"] > 100 and 0 < img["shown"] <= WIDTH, img["alt"]

    shot = tmp_path / "report.png"
    height = metrics["height"]
    done = _browse(
        chromium, f"--window-size={WIDTH},{height}", f"--screenshot={shot}", probe.as_uri()
    )
    assert shot.exists(), done.stderr[-2000:]
    assert _png_size(shot) == (WIDTH, height)
    keep = os.environ.get("POOLPIPE_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
