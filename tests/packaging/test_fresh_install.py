"""poolpipe installed the way a library is: the wheel, built from the sources, goes into a fresh
virtual environment outside the checkout together with what its metadata declares (pip resolves
it; nothing comes from requirements.lock but the versions), and every subcommand runs there on
small data. The same again for a wheel built where no C compiler works: every subcommand goes
through the Python fallbacks and gives the same numbers.

Installing needs the package index (or pip's cache). To keep it short, the declared dependencies
are downloaded once into a wheelhouse, at the versions the lock pins, and both environments
install from it with --no-index: a dependency missing from pyproject.toml is then missing from
both, and the subcommand that imports it fails.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "setup.py", "README.md", "src", "config/schema.yaml"]
"""What building the wheel reads (src/poolpipe/core/schema.yaml links to config/schema.yaml)."""
COMPILED = ("poolpipe.sum._scan", "poolpipe.train._csv")
EXTENSIONS = tuple(name.replace(".", "/") + "." for name in COMPILED)
INSTALL_S = 900
"""Downloading the dependencies on a slow link, or installing them on a loaded machine."""
COMMAND_S = 180
"""One subcommand on the small data below."""
SHOWN = 8
"""Lines of each command's output the transcript (pytest -s) shows."""
PAGES = {f"p{i}.html": f"<html><body>page {i}</body></html>\n" for i in range(1, 4)}


def run(
    cmd: list[str], *, timeout: float, expect: int | None = 0, **kwargs
) -> subprocess.CompletedProcess[str]:
    """A command, its output captured; it must exit with expect (None: any status)."""
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if expect is not None:
        assert done.returncode == expect, (
            f"{cmd}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


def build_wheel(dest: Path, *, compiler: bool) -> tuple[Path, str]:
    """A wheel built from a fresh copy of the sources (no build folder, no .so from an editable
    install); without a compiler, CC is /bin/false. Returns the wheel and the build's output."""
    source = dest / "source"
    for name in SOURCES:
        src, to = ROOT / name, source / name
        to.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")
            shutil.copytree(src, to, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(src, to)
    env = {**os.environ, **({} if compiler else {"CC": "/bin/false"})}
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v"]
    done = run([*cmd, "-w", str(dest / "dist"), str(source)], timeout=INSTALL_S, env=env)
    (wheel,) = (dest / "dist").glob("poolpipe-*.whl")
    return wheel, done.stdout + done.stderr


def wheel_extensions(wheel: Path) -> list[str]:
    """The compiled modules inside a wheel."""
    with zipfile.ZipFile(wheel) as zf:
        return sorted(n for n in zf.namelist() if n.startswith(EXTENSIONS) and n.endswith(".so"))


def lock_constraints(dest: Path) -> Path:
    """requirements.lock's versions as a constraints file: they choose versions, add nothing."""
    pins = re.findall(r"^([A-Za-z0-9._-]+==\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    dest.write_text("\n".join(pins) + "\n")
    return dest


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    built = {}
    for variant, compiler in (("compiled", True), ("no compiler", False)):
        wheel, log = build_wheel(tmp_path_factory.mktemp("build"), compiler=compiler)
        if compiler:
            assert len(wheel_extensions(wheel)) == 2, log
        else:
            assert wheel_extensions(wheel) == []
            assert "could not be built" in log and "slower Python path" in log, log
        built[variant] = wheel
    return built


@pytest.fixture(scope="module")
def wheelhouse(wheels, tmp_path_factory) -> Path:
    """The wheels of everything the poolpipe wheel declares, resolved by pip."""
    house = tmp_path_factory.mktemp("wheelhouse")
    constraints = lock_constraints(house.parent / "constraints.txt")
    # pip wheel, not download: snakemake needs connection-pool, published as an sdist only
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "-w",
        str(house),
        "-c",
        str(constraints),
    ]
    run([*cmd, str(wheels["compiled"])], timeout=INSTALL_S)
    for ours in house.glob("poolpipe-*.whl"):
        ours.unlink()
    return house


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, list[str]]]:
    """A web server on 127.0.0.1 serving three pages, and the paths it was asked for."""
    pages = tmp_path_factory.mktemp("site")
    for name, text in PAGES.items():
        (pages / name).write_text(text)
    asked: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            asked.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=pages))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def fresh_venv(where: Path, wheel: Path, wheelhouse: Path) -> dict[str, str]:
    """A new virtual environment with the wheel and its declared dependencies; the environment
    variables that run its commands (its bin first, nothing of the checkout on the path)."""
    run([sys.executable, "-m", "venv", str(where)], timeout=INSTALL_S)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index"]
    run([*pip, "--find-links", str(wheelhouse), str(wheel)], timeout=INSTALL_S)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{where / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    run([str(where / "bin" / "python"), "-m", "pip", "check"], timeout=COMMAND_S, env=env)
    return env


@pytest.mark.parametrize("variant", ["compiled", "no compiler"])
def test_every_subcommand_runs_in_a_fresh_install(variant, wheels, wheelhouse, site, tmp_path):
    venv, work = tmp_path / "venv", tmp_path / "work"
    assert not venv.is_relative_to(ROOT)
    env = fresh_venv(venv, wheels[variant], wheelhouse)
    env["POOLPIPE_RUN_ID"] = "20261206T000000Z-0a1b2c"  # the commands below are one run
    work.mkdir()
    transcript = [f"## {variant}: {wheels[variant].name} in {venv}"]

    codes: list[int] = []

    def poolpipe(*args: str, expect: int | None = 0) -> str:
        cmd = [str(venv / "bin" / "poolpipe"), *args]
        done = run(cmd, timeout=COMMAND_S, expect=expect, cwd=work, env=env)
        codes.append(done.returncode)
        lines = (done.stdout + done.stderr).splitlines()
        shown = lines[:SHOWN] + (
            [f"... ({len(lines) - SHOWN} more lines)"] if lines[SHOWN:] else []
        )
        transcript.append("\n".join([f"$ poolpipe {' '.join(args)}", *shown]))
        return done.stdout

    python = [str(venv / "bin" / "python"), "-c"]
    probe = "import importlib.util as u, poolpipe; print(poolpipe.__file__); "
    probe += f"print(*(u.find_spec(m) is not None for m in {COMPILED}))"
    where, found = run([*python, probe], timeout=COMMAND_S, cwd=work, env=env).stdout.splitlines()
    assert Path(where).is_relative_to(venv)
    assert found == ("True True" if variant == "compiled" else "False False")

    poolpipe("demo-numbers", "numbers.txt", "--lines", "3000", "--seed", "5")
    total = json.loads(poolpipe("sum", "numbers.txt", "--processes", "2", *timing("sum")))
    numbers = [int(x) for x in (work / "numbers.txt").read_text().split()]
    assert (total["total"], total["numbers"]) == (sum(numbers), len(numbers))

    poolpipe("demo-train", "train.csv", "--rows", "600", "--features", "2", "--seed", "5")
    train = ["train", "train.csv", "--target", "y", "--processes", "2", "--compare-full-fit"]
    model = json.loads(poolpipe(*train, *timing("train")))
    (work / "model.json").write_text(json.dumps(model))
    assert model["full_fit"]["coef"] == pytest.approx(model["exact"]["coef"], rel=1e-9)
    predict = ["predict", "model.json", "train.csv", "--out", "pred.csv", "--processes", "2"]
    assert json.loads(poolpipe(*predict, *timing("predict")))["scored_rows"] == 600

    poolpipe("demo-tasks", "tasks.jsonl", "root", "--tasks", "12", "--seed", "5")
    tasks = ["tasks", "tasks.jsonl", "--root", "root", "--out", "tasks.tsv", "--processes", "2"]
    outcome = json.loads(poolpipe(*tasks, expect=None))
    assert outcome["ok"] > 0
    assert codes[-1] == min(outcome["failed"], 101)  # the exit status counts failed tasks

    poolpipe("supervise", "--worker", "a:0.01:3", "--worker", "b:0.01:3", "--out", "ticks.tsv")
    assert (work / "ticks.tsv").read_text().count("\tfinished") == 2
    assert json.loads(poolpipe("double", "1", "2", "3", "--processes", "2")) == [2, 4, 6]

    base, asked = site
    poolpipe("demo-urls", "demo-urls.txt", "--pages", "5", "--seed", "5")
    assert (work / "demo-urls.txt").stat().st_size > 0
    urls = [f"{base}/{name}" for name in PAGES] + [f"{base}/missing"]
    (work / "urls.txt").write_text("\n".join(urls) + "\n")
    crawl = ["crawl", "urls.txt", "--out", "pages.tsv", "--store", "warc", "--processes", "2"]
    summary = json.loads(poolpipe(*crawl, *timing("crawl")))
    assert summary["by_status"] == {"200": len(PAGES), "404": 1}
    assert {f"/{name}" for name in PAGES} <= set(asked)
    records = run([*python, WARC_RECORDS], timeout=COMMAND_S, cwd=work, env=env).stdout.split()
    assert sorted(records) == sorted(urls)

    poolpipe("report", "--results", "results", "--out", "report")
    stages = {row.split(",")[0] for row in (work / "report/timings.csv").read_text().splitlines()}
    assert {"sum", "train", "predict", "crawl"} <= stages
    assert (work / "report" / "report.html").stat().st_size > 0
    print("\n\n".join(transcript))


def timing(stage: str) -> list[str]:
    """The --timing option that puts a command's record where `poolpipe report` reads it."""
    return ["--timing", f"results/timing/{stage}/demo.json"]


WARC_RECORDS = """
from warcio.archiveiterator import ArchiveIterator
with open("pages.warc.gz", "rb") as fh:
    for record in ArchiveIterator(fh):
        if record.rec_type == "response":
            print(record.rec_headers.get_header("WARC-Target-URI"))
"""
"""The responses in the crawl's WARC file, read with warcio in the fresh environment."""
