"""Integration: the train stage through the real `snakemake` command, in a copy of the workflow."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LinearRegression

from poolpipe.core.timing import read_record
from poolpipe.train.columns import choose_columns
from poolpipe.train.model import summary_text
from poolpipe.train.rows import parse_line

from ..workflow_helpers import SMALL, same_result, snakemake, with_sheet, workflow_copy

pytestmark = pytest.mark.integration

POOLPIPE = str(Path(sys.executable).parent / "poolpipe")
TRAIN = copy.deepcopy(SMALL)
TRAIN["demo"]["train"] = {
    "rows": 20000,
    "coef": [2.0, -3.0, 0.5],
    "intercept": 1.0,
    "noise": 0.1,
    "bad_rows": 6,
}
TRAIN["train"] = {"chunks": 3, "threads": 2, "compare_full_fit": True}
OUTPUTS = [
    "data/train.csv",
    "results/train/train/chunks.tsv",
    "results/train/train/columns.json",
    "results/train/train/parts/0.json",
    "results/train/train/parts/1.json",
    "results/train/train/parts/2.json",
    "results/train/train/model.json",
    "results/train/train/summary.txt",
]


def with_train(workdir: Path | None = None, own: Path | None = None, **train) -> dict:
    """The small test config with these train settings, and a sheet of the one file `own`."""
    config = copy.deepcopy(SMALL)
    config["train"] = train
    if own is None:
        return config
    return with_sheet(workdir, [{"name": "own", "stage": "train", "path": own}], config)


def good_rows(path: Path) -> tuple[np.ndarray, list[int]]:
    """Every good row of a CSV by the reference rule, and the line numbers of the bad ones."""
    columns = choose_columns(path, "y")
    rows, bad = [], []
    for number, line in enumerate(path.read_bytes().split(b"\n")[1:-1], start=2):
        got = parse_line(line, columns)
        if isinstance(got, str):
            bad.append(number)
        elif got is not None:
            rows.append(got)
    return np.array(rows), bad


@pytest.fixture(scope="module")
def train_run(tmp_path_factory) -> Path:
    """One full run of the workflow with a three-feature demo training file."""
    workdir = workflow_copy(tmp_path_factory.mktemp("train"))
    run = snakemake(workdir, TRAIN)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir


def test_the_model_equals_scikit_learn_on_the_good_rows(train_run):
    model = json.loads((train_run / "results/train/train/model.json").read_text())
    rows, bad = good_rows(train_run / "data/train.csv")
    want = LinearRegression().fit(rows[:, :3], rows[:, 3])
    scale = np.max(np.abs(want.coef_))
    assert np.max(np.abs(np.subtract(model["exact"]["coef"], want.coef_))) <= 1e-9 * scale
    assert abs(model["exact"]["intercept"] - want.intercept_) <= 1e-9 * scale
    assert model["features"] == ["x1", "x2", "x3"] and model["target"] == "y"
    assert (model["rows"], model["chunks"], model["chunks_averaged"]) == (20000 - 6, 3, 3)
    assert model["skipped_rows"]["count"] == len(bad) == 6
    assert [e["line"] for e in model["skipped_rows"]["examples"]] == bad
    diff = model["max_abs_diff_from_full_fit"]
    assert diff["exact"]["coef"] <= 1e-9 * scale
    assert diff["average"]["coef"] > diff["exact"]["coef"]
    assert np.allclose(model["exact"]["coef"], [2.0, -3.0, 0.5], atol=0.02)


def test_every_train_job_leaves_a_timing_record(train_run):
    records = [read_record(p) for p in (train_run / "results/timing").rglob("*.json")]
    train = [r for r in records if r.rule in {"split_train", "train_chunk", "merge_train"}]
    assert sorted(r.rule for r in train) == ["merge_train", "split_train"] + ["train_chunk"] * 3
    chunks = [r for r in train if r.rule == "train_chunk"]
    assert sorted(r.chunk for r in chunks) == [0, 1, 2]
    assert sum(r.items for r in chunks) == 20000 - 6
    # a chunk of 0.3 MB is one piece (train.fit.PIECE_BYTES): one of the 2 workers runs it
    assert all(r.processes == 1 and r.stage == "train" for r in chunks)
    assert all(r.serial_wall_s is not None for r in chunks)
    assert (train_run / "results/benchmarks/merge_train/train.tsv").exists()


@pytest.mark.parametrize("change", [{"intercept": False}, {"compare_full_fit": False}])
def test_a_setting_turned_to_a_value_another_param_holds_runs_the_fit_again(train_run, change):
    # Snakemake compares a job's params as a set of values without names: intercept false
    # beside strict false (or compare_full_fit false beside it) once left the old fit standing
    config = copy.deepcopy(TRAIN)
    config["train"].update(change)
    try:
        run = snakemake(train_run, config, "--dry-run")
    finally:
        (train_run / "test.yaml").write_text(yaml.safe_dump(TRAIN))
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.search(r"^merge_train +1$", run.stdout, re.M), run.stdout


def test_the_command_prints_the_same_model(train_run):
    args = ["data/train.csv", "--target", "y", "--processes", "2", "--chunks", "3"]
    run = subprocess.run(
        [POOLPIPE, "train", *args, "--compare-full-fit"],
        cwd=train_run,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == (train_run / "results/train/train/model.json").read_text()


def test_a_summary_a_person_reads_is_written_beside_the_model(train_run):
    model = json.loads((train_run / "results/train/train/model.json").read_text())
    summary = (train_run / "results/train/train/summary.txt").read_text()
    assert summary == summary_text(model)
    assert summary.splitlines()[3].split()[0] == "intercept"


def test_a_second_run_has_nothing_to_do_and_a_fresh_one_is_identical(train_run, tmp_path):
    again = snakemake(train_run, TRAIN)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
    second = workflow_copy(tmp_path / "second")
    assert snakemake(second, TRAIN).returncode == 0
    for rel in OUTPUTS:
        assert same_result(train_run / rel, second / rel), rel


def write_own(tmp_path: Path) -> Path:
    own = tmp_path / "own.csv"
    rows = ["id,size,colour,age,price"]
    rng = np.random.default_rng(2)
    for i in range(300):
        size, age = rng.uniform(20, 200), rng.integers(0, 80)
        rows.append(f"h{i},{size:.2f},red,{age},{1000 * size - 50 * age + rng.normal(0, 10):.2f}")
    rows[120] = "h119,,red,3,100"
    own.write_text("\n".join(rows) + "\n")
    return own


def test_a_users_own_file_needs_only_a_row_and_a_target(tmp_path):
    own = write_own(tmp_path)
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, with_train(workdir, own, target="price", chunks=2))
    assert run.returncode == 0, run.stderr[-3000:]
    model = json.loads((workdir / "results/train/own/model.json").read_text())
    assert model["features"] == ["size", "age"]
    assert model["ignored_columns"] == ["id", "colour"]
    assert model["skipped_rows"]["examples"] == [
        {"line": 121, "text": "h119,,red,3,100", "reason": "column 'size' is empty"}
    ]
    assert np.allclose(model["exact"]["coef"], [1000, -50], rtol=0.01)
    assert not (workdir / "data/train.csv").exists()


def test_strict_mode_fails_with_one_sentence_naming_file_and_line(tmp_path):
    own = write_own(tmp_path)
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, with_train(workdir, own, target="price", chunks=2, strict=True))
    assert run.returncode != 0
    sentence = f"rule train_chunk: error: {own}, line 121: column 'size' is empty"
    assert sentence in run.stderr
    assert "Traceback" not in run.stderr
    assert not (workdir / "results/train/own/model.json").exists()


def test_a_missing_target_column_is_one_sentence(tmp_path):
    own = write_own(tmp_path)
    workdir = workflow_copy(tmp_path / "wf")
    config = with_train(workdir, own, target="cost")
    (workdir / "sheet.tsv").write_text(
        (workdir / "sheet.tsv").read_text() + f"nums\tsum\t{write_numbers(tmp_path)}\n"
    )
    run = snakemake(workdir, config)
    assert run.returncode != 0
    # before any job: the sum dataset beside it is not summed, then stopped
    assert run.stderr.splitlines()[-1].startswith(
        f"dataset 'own' (train): {own} has no target column 'cost'; its columns are 'id'"
    )
    assert "Traceback" not in run.stderr
    assert not (workdir / "results/timing").exists()


def test_a_predict_file_without_the_models_features_is_one_sentence_before_any_job(tmp_path):
    # found by the predict job, after every train job, until the run checked it first
    own = write_own(tmp_path)
    new = tmp_path / "new.csv"
    new.write_text("id,size,colour\nh1,1.5,red\n")
    workdir = workflow_copy(tmp_path / "wf")
    config = with_train(workdir, own, target="price", chunks=2)
    (workdir / "sheet.tsv").write_text(
        f"name\tstage\tpath\tmodel\nown\ttrain\t{own}\t\nnew\tpredict\t{new}\town\n"
    )
    run = snakemake(workdir, config)
    assert run.returncode != 0
    assert run.stderr.splitlines()[-1] == (
        f"dataset 'new' (predict): {new} has no column 'age', a feature of train dataset 'own'"
    )
    assert not (workdir / "results/timing").exists()


def test_options_that_cannot_go_together_stop_the_run_before_any_job(tmp_path):
    own = write_own(tmp_path)
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(
        workdir, with_train(workdir, own, target="price", robust="hc3", intercept=False)
    )
    assert run.returncode != 0
    assert run.stderr.splitlines()[-1] == (
        "train: robust errors are computed for models with an intercept only; leave out robust "
        "or keep the intercept"
    )
    assert not (workdir / "results/timing").exists()


def write_numbers(tmp_path: Path) -> Path:
    """A small file of integers for a sum dataset beside the train one."""
    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"{i}\n" for i in range(1000)))
    return path


def test_an_invalid_train_config_is_rejected_by_the_schema(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    run = snakemake(workdir, with_train(delimiter=",,"), "--dry-run")
    assert run.returncode != 0
    assert "is too long" in run.stdout + run.stderr
    typo = snakemake(workdir, with_train(feature=["x1"]), "--dry-run")
    assert typo.returncode != 0
    assert (
        "config key 'train.feature' is not a setting; did you mean 'train.features'?"
        in typo.stdout + typo.stderr
    )
