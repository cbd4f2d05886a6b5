"""The workflow's fault catalogue: mistakes in the config and the dataset sheet, through the real
`snakemake` command. Each ends before any job with one sentence and no traceback, or stops
only the targets that need what is wrong (docs/faults.md, "Workflow inputs")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ..workflow_helpers import snakemake, with_sheet, workflow_copy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """One copy of the workflow, with a user's numbers file beside it; no run yet."""
    workdir = workflow_copy(tmp_path_factory.mktemp("faults"))
    (workdir / "a.txt").write_text("1\n2\n3\n")
    return workdir


def lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]


def assert_stops(run: subprocess.CompletedProcess[str], sentence: str, workdir: Path) -> None:
    """The run ended with this one sentence as its last line, at most three lines in all
    (Snakemake's own notes included), no traceback, and no job run."""
    out = lines(run)
    assert run.returncode == 1, out
    assert out[-1] == sentence, out
    assert len(out) <= 3, out
    assert "Traceback" not in run.stdout + run.stderr
    assert not (workdir / "results").exists() and not (workdir / "data").exists()


def test_a_typo_on_the_command_line(work):
    run = snakemake(work, None, "--config", "stage=[sum]")
    assert_stops(run, "config key 'stage' is not a setting; did you mean 'stages'?", work)


def test_a_typo_in_a_file(work):
    run = snakemake(work, {"sum": {"chunk": 8}})
    assert_stops(run, "config key 'sum.chunk' is not a setting; did you mean 'sum.chunks'?", work)


def test_a_value_out_of_range_in_a_file(work):
    run = snakemake(work, {"crawl": {"store": "warcs"}, "sum": {"chunks": 2}})
    assert_stops(
        run, "config key 'crawl.store': 'warcs' is not a valid value; did you mean 'warc'?", work
    )


@pytest.mark.parametrize(
    ("cell", "sentence"),
    [
        ("²".encode(), "column chunks: '²' is not a whole number in the ASCII digits 0-9"),
        ("٣".encode(), "column chunks: '٣' is not a whole number in the ASCII digits 0-9"),
    ],
)
def test_a_chunks_cell_not_in_ascii_digits(work, cell, sentence):
    (work / "s.tsv").write_bytes(b"name\tstage\tpath\tchunks\nmine\tsum\ta.txt\t" + cell + b"\n")
    run = snakemake(work, {"datasets": "s.tsv"})
    assert_stops(run, f"s.tsv, line 2 (dataset 'mine'): {sentence}", work)


def test_a_latin1_sheet(work):
    (work / "s.tsv").write_bytes("name\tstage\tpath\ncafé\tsum\ta.txt\n".encode("latin-1"))
    run = snakemake(work, {"datasets": "s.tsv"})
    sentence = "s.tsv, line 2, column name: byte 0xe9 is not UTF-8 text; save the sheet as UTF-8"
    assert_stops(run, sentence, work)


def test_a_sheet_that_is_a_fifo_is_refused_not_waited_on(work):
    fifo = work / "s.fifo"
    os.mkfifo(fifo)
    try:
        run = snakemake(work, {"datasets": "s.fifo"})
    finally:
        fifo.unlink()
    assert_stops(run, "dataset sheet 's.fifo' is not a regular file", work)


@pytest.mark.parametrize("through_link", [False, True])
def test_a_sheet_that_is_an_output_of_the_workflow(tmp_path, through_link):
    workdir = workflow_copy(tmp_path / "wf")
    (workdir / "logs").mkdir()
    (workdir / "logs/s.tsv").write_text("name\tstage\tpath\nmine\tsum\ta.txt\n")
    sheet = "logs/s.tsv"
    if through_link:
        (workdir / "mine.tsv").symlink_to(workdir / "logs/s.tsv")
        sheet = "mine.tsv"
    run = snakemake(workdir, {"datasets": sheet})
    assert_stops(
        run,
        f"dataset sheet {sheet} is one of the workflow's outputs (logs), which a run may "
        "overwrite: keep the sheet outside results/, logs/ and the demo data",
        workdir,
    )


def test_a_missing_input_stops_only_the_targets_that_need_it(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    (workdir / "a.txt").write_text("1\n2\n")
    rows = [
        {"name": "gone", "stage": "sum", "path": "absent.txt"},
        {"name": "here", "stage": "sum", "path": "a.txt"},
    ]
    config = with_sheet(workdir, rows, {"stages": ["sum"]})
    other = snakemake(workdir, config, "--dry-run", "results/sum/here/total.json")
    assert other.returncode == 0, other.stderr[-3000:]
    assert "merge_sum" in other.stdout
    needs = snakemake(workdir, config, "--dry-run", "results/sum/gone/total.json")
    assert needs.returncode == 1
    assert lines(needs)[-1] == (
        "dataset 'gone' (sum): input file 'absent.txt' does not exist (relative paths start in "
        f"the workflow's folder, {workdir.resolve()})"
    )
    assert "Traceback" not in needs.stdout + needs.stderr


@pytest.mark.parametrize(
    ("demo", "sentence"),
    [
        ({"numbers": {"lines": 4}}, "demo.numbers: 5 blank and 5 bad lines do not fit in its 4"),
        ({"train": {"rows": 3, "bad_rows": 4}}, "demo.train: 4 bad rows do not fit in its 3 rows"),
        (  # in range, but split_train found no data row after the demo job (0 rows)
            {"train": {"rows": 6, "bad_rows": 5, "coef": [1, 2]}},
            "demo.train: 6 rows less 5 bad leave 1 to fit, fewer than its 2 coefficients",
        ),
        ({"train": {"rows": 0, "bad_rows": 0}}, "leave 0 to fit, fewer than its 1 coefficient;"),
    ],
)
def test_demo_counts_that_do_not_fit_stop_before_any_job(tmp_path, demo, sentence):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, {"demo": demo}, "--dry-run")
    assert run.returncode == 1
    assert sentence in run.stderr and "Traceback" not in run.stderr
    assert not (workdir / "results").exists()
