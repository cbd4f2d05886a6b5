"""One run per report: after the demo, a run on a user's sheet reports only its own jobs."""

from __future__ import annotations

import re

import pytest

from .two_runs import TwoRuns, demo_then_sheet, rules_of, run_ids

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> TwoRuns:
    return demo_then_sheet(tmp_path_factory.mktemp("runs"))


def test_the_second_report_holds_only_the_second_runs_records(runs):
    (demo_id,) = run_ids(runs.demo)
    (sheet_id,) = run_ids(runs.sheet)
    assert demo_id != sheet_id
    assert rules_of(runs.sheet) == {"split_numbers", "sum_chunk", "merge_sum"}
    assert {"bench_cpu", "supervise", "sum_chunk", "crawl_chunk"} <= rules_of(runs.demo)
    page = (runs.sheet / "report.html").read_text()
    assert f"This report describes one run of the workflow: {sheet_id}" in page
    assert "Left out of the timeline, the tables and timings.csv:" in page
    assert f"of an earlier run, {demo_id}" in page
    assert f"From another run ({demo_id}, started" in page  # the benches and the loops
    assert "Sum: result (mine)" in page and "Sum: result (numbers)" not in page
    assert "Crawl: outcomes" not in page and "Tasks: outcomes" not in page
    summary = (runs.sheet / "summary.md").read_text()
    assert f"Run: {sheet_id}" in summary and "sum_chunk numbers" not in summary


def test_the_report_jobs_console_lines_stay_short(runs):
    for out in (runs.demo_out, runs.sheet_out):
        block = re.search(r"rule report:\n((?:    .*\n)+)", out)
        assert block, out[-3000:]
        longest = max(len(line) for line in block.group(1).splitlines())
        assert longest < 600, block.group(1)


def test_the_report_command_describes_the_latest_run_or_the_one_asked_for(runs, tmp_path):
    import subprocess
    import sys

    (demo_id,) = run_ids(runs.demo)
    (sheet_id,) = run_ids(runs.sheet)
    base = [sys.executable, "-m", "poolpipe.cli", "report", "--results"]
    base += [str(runs.workdir / "results")]
    latest = subprocess.run(
        [*base, "--out", str(tmp_path / "latest")], capture_output=True, text=True, timeout=300
    )
    assert latest.returncode == 0, latest.stderr
    assert run_ids(tmp_path / "latest") == {sheet_id}
    assert "Sum: result (numbers)" not in (tmp_path / "latest" / "report.html").read_text()
    older = subprocess.run(
        [*base, "--out", str(tmp_path / "older"), "--run", demo_id],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert older.returncode == 0, older.stderr
    assert run_ids(tmp_path / "older") == {demo_id}
    unknown = subprocess.run(
        [*base, "--out", str(tmp_path / "x"), "--run", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert unknown.returncode == 1 and "run 'nope' has no timing records here" in unknown.stderr


def test_a_baseline_that_is_the_reports_own_output_is_refused_and_kept(runs):
    from ..workflow_helpers import snakemake
    from .two_runs import DEMO

    csv_path = runs.sheet / "timings.csv"
    before = csv_path.read_bytes()
    config = {**DEMO, "report": {"baseline": "results/report/timings.csv"}}
    run = snakemake(runs.workdir, {**config, "datasets": "sheet.tsv"}, "--forcerun", "report")
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "output csv 'results/report/timings.csv' is the same file as report.baseline" in out
    assert "common.smk" not in out and "Traceback" not in out  # one sentence, no stack
    assert csv_path.read_bytes() == before


def test_the_demo_report_has_a_results_section_per_stage(runs):
    page = (runs.demo / "report.html").read_text()
    for title in (
        "Sum: result (numbers)",
        "Train: model (train)",
        "Crawl: outcomes (urls)",
        "Tasks: outcomes (tasks)",
        "Supervise: the loops",
    ):
        assert f"<h2>{title}</h2>" in page, title
    assert re.search(r"Of \d+ URLs, \d+ URLs were fetched with a success status", page)
    assert not re.search(r"\(\d+ ok, \d+ error rows\)", page)
