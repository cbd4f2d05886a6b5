"""The reports as a newcomer sees them: headless Chromium, full-page screenshots at 1400 px and at
a phone's 390 px, of the demo run's report and of the report of a run on a user's sheet.

Chromium is installed with apt-get where it is missing (root, Debian), as the SLURM test does
for SLURM; run with `make test-browser` (part of `make test`). POOLPIPE_SCREENSHOTS=<folder>
keeps the screenshots.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from .two_runs import TwoRuns, demo_then_sheet

pytestmark = pytest.mark.browser
WIDTHS = (1400, 390)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell")
METRICS = """<script>addEventListener("load", () => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const d = document.documentElement;
  const tables = [...document.querySelectorAll("table")].map(t => ({
    width: t.getBoundingClientRect().width, room: t.parentElement.clientWidth,
    title: t.closest("section").querySelector("h2").textContent}));
  const m = {scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, height: d.scrollHeight,
    tables, images: [...document.images].map(i => ({done: i.complete, width: i.naturalWidth,
      shown: i.getBoundingClientRect().width, alt: i.alt}))};
  parent.postMessage(JSON.stringify(m), "*");
});</script>"""
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="border:0;display:block;width:{width}px;height:{height}px"></iframe>
<script>addEventListener("message", e => {{
  const p = document.createElement("pre"); p.id = "metrics"; p.textContent = e.data;
  document.body.appendChild(p);
}});</script></body></html>"""
"""The report in a frame exactly `width` px wide: headless Chromium's window is at least 500 px
wide whatever it is told, so a phone's width is a frame's."""
WINDOW = 500
"""The narrowest window headless Chromium lays out (a narrower screenshot is cropped)."""
DEMO_PLOTS = {
    "Timeline",
    "Stages",
    "What a pool costs",
    "CPU scaling (bench_cpu)",
    "IPC costs (bench_ipc)",
    "Crawl: latency distribution (urls)",
    "Train: averaged vs exact merge (train)",
}
SHEET_PLOTS = {"Timeline", "Stages", "CPU scaling (bench_cpu)"}
"""A user's sheet measures no one-process comparison, so no break-even curve is drawn."""


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
def runs(tmp_path_factory) -> TwoRuns:
    """The demo's report, then the report of a run on a user's sheet in the same folder."""
    return demo_then_sheet(tmp_path_factory.mktemp("browser"))


def _browse(chromium: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += ["--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


def _framed(tmp_path: Path, probe: Path, width: int, height: int) -> Path:
    frame = tmp_path / f"frame-{height}.html"
    frame.write_text(FRAME.format(src=probe.name, width=width, height=height))
    return frame


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("which", ["demo", "sheet"])
def test_the_report_fits_the_screen_and_shows_every_plot(chromium, runs, tmp_path, which, width):
    page = (getattr(runs, which) / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", METRICS + "</body>"))
    window = max(width, WINDOW)
    frame = _framed(tmp_path, probe, width, 1000)
    dumped = _browse(chromium, f"--window-size={window},1000", "--dump-dom", frame.as_uri())
    found = re.search(r'<pre id="metrics">(.*?)</pre>', dumped.stdout)
    assert found, dumped.stderr[-2000:]
    metrics = json.loads(html.unescape(found.group(1)))
    assert metrics["clientWidth"] == width
    assert metrics["scrollWidth"] <= metrics["clientWidth"], "the page scrolls sideways"
    for table in metrics["tables"]:
        assert table["width"] <= table["room"] + 1, f"a table of {table['title']} is too wide"
    titles = {img["alt"] for img in metrics["images"]}
    wanted = DEMO_PLOTS if which == "demo" else SHEET_PLOTS
    assert wanted <= titles, f"missing plots: {wanted - titles}"
    assert len(metrics["images"]) == page.count("<img ")
    for img in metrics["images"]:
        assert img["done"] and img["width"] > 100 and 0 < img["shown"] <= width, img["alt"]
        if width == 1400 and img["alt"] == "Timeline":
            # drawn at 12 px labels for the page's column: shown unscaled, they stay 12 px
            assert img["shown"] == img["width"]

    shot = tmp_path / "report.png"
    height = metrics["height"]
    frame = _framed(tmp_path, probe, width, height)
    done = _browse(
        chromium, f"--window-size={window},{height}", f"--screenshot={shot}", frame.as_uri()
    )
    assert shot.exists(), done.stderr[-2000:]
    assert _png_size(shot) == (window, height)
    keep = os.environ.get("POOLPIPE_SCREENSHOTS")
    if keep:
        from PIL import Image

        Path(keep).mkdir(parents=True, exist_ok=True)
        Image.open(shot).crop((0, 0, width, height)).save(Path(keep) / f"{which}-{width}.png")
