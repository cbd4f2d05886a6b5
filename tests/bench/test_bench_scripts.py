"""The bench/ scripts, run on tiny inputs: each runs every method, cross-checks the results and
prints its table. The figures themselves are not checked (they are timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench(tmp_path: Path, script: str, *args: str) -> tuple[str, dict]:
    """Run bench/SCRIPT with args into tmp_path; its report and its JSON file."""
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout, json.loads((tmp_path / script.replace(".py", ".json")).read_text())


def test_sum_bench_methods_agree_on_the_total(tmp_path):
    args = ["--size-mb", "2", "--recipe-slice-mb", "1", "--methods", "all", "--repeats", "2"]
    text, result = bench(tmp_path, "sum.py", *args, "--big-mb", "3")
    assert result["mismatches"] == []
    big_bytes = Path(result["big_file"]).stat().st_size
    one = [r for r in result["rows"] if r["label"].endswith("[one line]")]
    assert [(r["method"], r["processes"], set(r["totals"])) for r in one] == [("cli", 2, {12345})]
    assert "one-line file: the whole command at 2 processes took " in text
    main = [r for r in result["rows"] if r["nbytes"] != big_bytes and r not in one]  # slice too
    big = [r for r in result["rows"] if r["nbytes"] == big_bytes]
    assert sorted((r["method"], r["processes"]) for r in big) == [("cat", 1), ("cli", 2)]
    assert len({t for r in big for t in r["totals"]}) == 2  # cat's None and the command's total
    assert "16-process row: " in text and "big file (rows marked" in text
    totals = {(r["method"], r["processes"]): set(r["totals"]) for r in main}
    wide = totals.pop(("cli", 16), None)  # measured only on a machine with 16 CPUs
    assert (wide is None) == ("16-process row: skipped" in text)
    whole = [t for (method, _), t in totals.items() if method not in ("cat", "recipe")]
    assert len(whole) == 7 and all(len(t) == 1 for t in whole), totals
    assert len(set.union(*whole)) == 1, totals
    assert ("cli", 1) in totals and ("cli", 2) in totals
    for row in result["rows"]:
        pairs = len(row["cat_seconds"])
        assert pairs == (0 if row["method"] == "cat" else len(row["seconds"])), row
        assert row["vs_cat"] > 0
    assert "x cat" in text and "x recipe" in text and "load average" in text and "machine: " in text
    assert "where the time goes" in text and result["profile"]["scan_gbps"] > 0
    if result["profile"]["scanner"] == "C":
        from poolpipe.sum import _scan

        assert result["profile"]["kernel"] == _scan.KERNEL
        assert f"C ({_scan.KERNEL} kernel) scanner" in text


def test_train_bench_fits_agree_with_scikit_learn(tmp_path):
    args = ["--rows", "3000", "--features", "3", "--repeats", "1"]
    text, result = bench(tmp_path, "train.py", *args)
    errors = {r["label"]: r["coef_error"] for r in result["rows"] if r["coef_error"] is not None}
    exact = [e for label, e in errors.items() if "TSQR" in label or "full fit" in label]
    assert exact and max(exact) < 1e-9, errors
    assert "x full fit" in text


def test_crawl_bench_fetches_every_page_and_finishes_the_mixed_list(tmp_path):
    args = ["--pages", "120", "--recipe-slice", "10", "--repeats", "1", "--processes", "2"]
    args += ["--mixed-pages", "60", "--hangs", "1", "--mixed-cap", "10", "--deadline", "2"]
    args += ["--retries", "1", "--memory-urls", "200", "--wait-quiet", "0"]
    args += ["--high-concurrency", "16", "--goal-pages", "40", "--goal-concurrency", "8"]
    text, result = bench(tmp_path, "crawl.py", *args)
    grid = [(r["method"], r["concurrency"]) for r in result["goal"]["rows"]]
    methods = ("aiohttp", "poolpipe1", "poolpipe", "threads", "urllib3", "bare")
    assert grid == [(m, 8) for m in methods]
    assert all(run["ok"] == 40 for r in result["goal"]["rows"] for run in r["runs"])
    assert "goal overall: " in text
    assert result["problems"] == [] and result["mixed"]["ok"]
    methods = [(r["method"], r["concurrency"]) for r in result["rows"][1:]]
    assert result["rows"][0]["method"] == "recipe"
    assert methods == [
        ("threads", 64), ("poolpipe1", 64), ("aiohttp", 64), ("poolpipe", 64),
        ("aiohttp", 16), ("poolpipe1", 16), ("poolpipe", 16),
    ]  # fmt: skip
    peers = [r["vs_aiohttp"] for r in result["rows"] if r["method"] == "aiohttp"]
    assert peers == [1.0, 1.0]
    assert {n: run["rows"] for n, run in result["memory"].items()} == {"20": 20, "200": 200}
    assert "killed after 10 s" in text
