"""Integration: the real `snakemake` command on small configs, in a copy of the workflow."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from poolpipe.core.timing import read_record

from ..sum.test_numbers import reference
from ..workflow_helpers import (
    LOCAL_ENV,
    ROOT,
    SMALL,
    SNAKEMAKE,
    same_result,
    snakemake,
    with_sheet,
    workflow_copy,
)

pytestmark = pytest.mark.integration
SUM_TARGET = "results/sum/numbers/total.json"


def reference_sum(path: Path) -> dict:
    """Sum a numbers file line by line in plain Python."""
    part, _ = reference(path.read_bytes())
    return {
        "total": part.total,
        "numbers": part.numbers,
        "blank_lines": part.blank_lines,
        "bad_lines": part.bad_lines,
    }


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One full run of the workflow on the small demo config."""
    workdir = workflow_copy(tmp_path_factory.mktemp("demo"))
    run = snakemake(workdir, SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir, run


def test_total_matches_the_reference(demo_run):
    workdir, _ = demo_run
    total = json.loads((workdir / "results/sum/numbers/total.json").read_text())
    want = reference_sum(workdir / "data/numbers.txt")
    assert {k: total[k] for k in want} == want
    assert (want["blank_lines"], want["bad_lines"]) == (3, 4)
    assert total["chunks"] == 3
    assert total["bytes"] == (workdir / "data/numbers.txt").stat().st_size
    assert total["lines"] == 30000
    assert len(total["bad_examples"]) == 4
    lines = (workdir / "data/numbers.txt").read_bytes().split(b"\n")
    for example in total["bad_examples"]:
        raw = lines[example["line"] - 1]
        assert example["text"] == raw.decode("utf-8", errors="backslashreplace")


def test_every_job_leaves_a_timing_record_and_a_benchmark(demo_run):
    workdir, _ = demo_run
    records = sorted((workdir / "results/timing").rglob("*.json"))
    rules = sorted({read_record(p).rule for p in records})
    assert rules == [
        "bench_cpu",
        "bench_ipc",
        "bench_overhead",
        "crawl_chunk",
        "demo_holdout",
        "demo_numbers",
        "demo_tasks",
        "demo_train",
        "demo_urls",
        "merge_crawl",
        "merge_sum",
        "merge_train",
        "predict",
        "run_tasks",
        "split_numbers",
        "split_train",
        "split_urls",
        "sum_chunk",
        "supervise",
        "train_chunk",
    ]
    chunks = [read_record(p) for p in records if read_record(p).rule == "sum_chunk"]
    assert sorted(r.chunk for r in chunks) == [0, 1, 2]
    # chunks under two MiB are summed in the job's own process, and their records say so
    assert all(r.processes == 1 and r.wall_s > 0 and r.bytes > 0 for r in chunks)
    assert sum(r.items for r in chunks) == 30000 - 7
    benchmarks = {
        p.relative_to(workdir / "results/benchmarks").with_suffix("")
        for p in (workdir / "results/benchmarks").rglob("*.tsv")
    }
    stems = {p.relative_to(workdir / "results/timing").with_suffix("") for p in records}
    assert benchmarks == stems | {Path("report")}


def test_a_second_run_has_nothing_to_do(demo_run):
    workdir, _ = demo_run
    again = snakemake(workdir, SMALL)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_two_runs_give_byte_identical_results(demo_run, tmp_path):
    first, _ = demo_run
    second = workflow_copy(tmp_path / "second")
    assert snakemake(second, SMALL).returncode == 0
    for rel in [
        "data/numbers.txt",
        "results/sum/numbers/chunks.tsv",
        "results/sum/numbers/total.json",
    ]:
        assert same_result(first / rel, second / rel), rel
    parts = sorted(p.name for p in (first / "results/sum/numbers/parts").iterdir())
    assert parts == ["0.json", "1.json", "2.json"]
    for name in parts:
        assert same_result(
            first / "results/sum/numbers/parts" / name,
            second / "results/sum/numbers/parts" / name,
        )


def test_demo_inputs_kept_from_an_earlier_run_leave_the_report_nothing_to_skip(demo_run, tmp_path):
    """results/ deleted, data/ kept: the demo inputs are not made again, and the report reads
    no timing record of the jobs that would have made them (it listed them as skipped)."""
    first, _ = demo_run
    workdir = workflow_copy(tmp_path / "wf")
    shutil.copytree(first / "data", workdir / "data", symlinks=True)
    inputs = ["numbers.txt", "train.csv", "holdout.csv", "urls.txt", "tasks/manifest.jsonl"]
    made = {p: p.stat().st_mtime_ns for p in (workdir / "data" / name for name in inputs)}
    run = snakemake(workdir, SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in made} == made
    assert not list((workdir / "results/timing").glob("demo_*.json"))
    for report in (workdir / "results/report/summary.md", first / "results/report/summary.md"):
        assert "could not be used" not in report.read_text()
    rules = {line.split(",")[1] for line in (first / "results/report/timings.csv").open()}
    assert {"demo_numbers", "demo_train", "demo_holdout", "demo_urls", "demo_tasks"} <= rules


def test_a_users_own_file_needs_only_a_row_of_the_sheet(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    own = tmp_path / "mine.txt"
    own.write_bytes(b"10\n-3\n\n 99999999999999999999999 \r\nnope\n5")
    config = with_sheet(workdir, [{"name": "mine", "stage": "sum", "path": own, "chunks": 8}])
    run = snakemake(workdir, config, "results/sum/mine/total.json")
    assert run.returncode == 0, run.stderr[-3000:]
    total = json.loads((workdir / "results/sum/mine/total.json").read_text())
    assert total["input"] == str(own) and total["chunks"] == 8
    assert total["total"] == 10 - 3 + 99999999999999999999999 + 5
    assert (total["numbers"], total["blank_lines"], total["bad_lines"]) == (4, 1, 1)
    assert total["bad_examples"] == [
        {"line": 5, "text": "nope", "reason": "not an integer: it holds 'n'"}
    ]
    assert not (workdir / "data/numbers.txt").exists()


def test_strict_mode_fails_with_one_sentence_naming_file_and_line(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    own = tmp_path / "strict.txt"
    own.write_bytes(b"1\n2\n3\n4\n5\n6\nseven\n8\n")
    sheet = with_sheet(workdir, [{"name": "s", "stage": "sum", "path": own, "chunks": 2}])
    run = snakemake(workdir, {**sheet, "sum": {"strict": True}}, "results/sum/s/total.json")
    assert run.returncode != 0
    sentence = f"rule sum_chunk: error: {own}, line 7: 'seven' is not an integer"
    assert sentence in run.stderr
    assert "Traceback" not in run.stderr
    assert not (workdir / "results/sum/s/total.json").exists()


def test_a_missing_input_is_named_before_any_job_runs(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    absent = tmp_path / "absent.txt"
    run = snakemake(workdir, with_sheet(workdir, [{"name": "a", "stage": "sum", "path": absent}]))
    assert run.returncode != 0
    assert f"dataset 'a' (sum): input file {str(absent)!r} does not exist" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (workdir / "results").exists()


def test_a_directory_as_input_is_one_sentence(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, with_sheet(workdir, [{"name": "d", "stage": "sum", "path": tmp_path}]))
    assert run.returncode != 0
    assert f"dataset 'd' (sum): input {str(tmp_path)!r} is a directory" in run.stderr
    assert "Traceback" not in run.stderr


def test_an_invalid_config_is_rejected_by_the_schema(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, {"sum": {"chunks": 0}}, "--dry-run")
    assert run.returncode != 0
    assert "config key 'sum.chunks': 0 is out of range (at least 1" in run.stdout + run.stderr
    typo = snakemake(workdir, {"sum": {"chunk": 3}}, "--dry-run")
    assert typo.returncode != 0
    assert "config key 'sum.chunk' is not a setting" in typo.stdout + typo.stderr


def test_lint_is_clean():
    run = subprocess.run(
        [SNAKEMAKE, "--lint", "--cores", "1"],
        cwd=ROOT,
        env=LOCAL_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0
    assert "Congratulations" in run.stdout + run.stderr


def test_the_demo_model_predicts_new_rows_of_the_same_law(demo_run):
    workdir, _ = demo_run
    summary = json.loads((workdir / "results/predict/holdout/summary.json").read_text())
    assert summary["rows"] == summary["scored_rows"] == 2000
    noise = 0.1  # demo.train.noise: a model of the right law misses by about the noise
    assert 0.8 * noise < summary["rmse"] < 1.2 * noise
    html = (workdir / "results/report/report.html").read_text()
    assert "Predict: the model on new rows (holdout)" in html
    assert "Train: the exact fit (train)" in html
