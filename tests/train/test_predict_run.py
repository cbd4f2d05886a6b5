"""Integration: a predict dataset through the real `snakemake` command, beside its train dataset."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from poolpipe.train.predict import predict_file
from tests.train.test_inference import write_table
from tests.workflow_helpers import SMALL, snakemake, workflow_copy

pytestmark = pytest.mark.integration

COLUMNS = ("name", "stage", "path", "chunks", "target", "model")


def sheet(workdir, rows: list[dict]) -> dict:
    """A config listing these datasets (the train stage only), with robust errors and ridge."""
    lines = ["\t".join(COLUMNS)] + ["\t".join(str(r.get(c, "")) for c in COLUMNS) for r in rows]
    (workdir / "sheet.tsv").write_text("\n".join(lines) + "\n")
    config = copy.deepcopy(SMALL)
    config["train"] = {"chunks": 2, "threads": 2, "robust": "hc3", "ridge": 0.5}
    return {**config, "datasets": "sheet.tsv", "stages": ["train"]}


def test_a_predict_dataset_gets_the_commands_predictions_and_scores(tmp_path):
    work = workflow_copy(tmp_path / "wf")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1500, 2))
    y = x @ [2.0, -1.0] + 0.5 + 0.1 * rng.standard_normal(1500)
    write_table(work / "fit.csv", x[:1000], y[:1000])
    write_table(work / "new.csv", x[1000:], y[1000:])
    config = sheet(
        work,
        [
            {"name": "fit", "stage": "train", "path": "fit.csv", "target": "y"},
            {"name": "new", "stage": "predict", "path": "new.csv", "model": "fit"},
        ],
    )
    run = snakemake(work, config, "results/predict/new/summary.json")
    assert run.returncode == 0, run.stderr[-3000:]
    model = json.loads((work / "results/train/fit/model.json").read_text())
    assert model["exact"]["robust"]["kind"] == "hc3" and model["ridge"]["alpha"] == 0.5
    want = predict_file(
        str(work / "results/train/fit/model.json"), str(work / "new.csv"), str(tmp_path / "p.csv")
    )
    got = json.loads((work / "results/predict/new/summary.json").read_text())
    assert got["rows"] == want["rows"] == 500 and got["r2"] == want["r2"] > 0.99
    assert (work / "results/predict/new/predictions.csv").read_bytes() == (
        tmp_path / "p.csv"
    ).read_bytes()
    assert (work / "results/timing/predict/new.json").is_file()


def test_a_predict_dataset_naming_no_train_dataset_is_one_sentence(tmp_path):
    work = workflow_copy(tmp_path / "wf")
    write_table(work / "new.csv", np.ones((3, 1)), np.ones(3))
    config = sheet(work, [{"name": "new", "stage": "predict", "path": "new.csv", "model": "gone"}])
    run = snakemake(work, config, "-n")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "column model names 'gone', which is not a train dataset of the sheet" in out, out
    assert "Traceback" not in out
