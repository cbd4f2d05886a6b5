"""Predictions of a model.json over chunks: every non-blank line gets a row, scores as sklearn's."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error, r2_score

from poolpipe.core.outputs import dumps_json, write_json
from poolpipe.errors import PoolpipeError
from poolpipe.train.model import Options, train_file
from poolpipe.train.predict import predict_file
from tests.train.test_inference import write_table

POOLPIPE = str(Path(sys.executable).parent / "poolpipe")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A model.json (with a ridge fit) trained on 2000 rows, and 3000 fresh rows of the same law."""
    root = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5000, 3)) * [1, 5, 0.2] + [0, 100, 0]
    y = x @ [1.5, -0.5, 4] + 3 + rng.standard_normal(5000)
    train = write_table(root / "train.csv", x[:2000], y[:2000])
    model = train_file(str(train), "y", chunks=3, options=Options(ridge=2.0))
    (root / "model.json").write_text(dumps_json(model))
    return root / "model.json", x[2000:], y[2000:]


def read_predictions(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["line", "prediction", "error"]
    return rows[1:]


def test_the_scores_are_byte_identical_whatever_the_pools_size(tmp_path, fitted):
    # the scores merge piece by piece in floating point: pieces that followed the processes
    # gave an r2 that differed in its last digits between 4, 8 and 16 of them
    model_path, _, _ = fitted
    rng = np.random.default_rng(3)
    x = rng.normal(size=(250_000, 3))
    data = write_table(tmp_path / "big.csv", x, x @ [2.0, -1.0, 0.5] + rng.normal(size=len(x)))
    assert data.stat().st_size > 3 * (4 << 20)  # several pieces
    summaries = [
        dumps_json(predict_file(str(model_path), str(data), str(tmp_path / "p.csv"), processes=p))
        for p in (1, 2, 5)
    ]
    assert summaries[1] == summaries[0] and summaries[2] == summaries[0]


@pytest.mark.parametrize("processes", [1, 2])
def test_predictions_and_scores_are_scikit_learns(tmp_path, fitted, processes):
    model_path, x, y = fitted
    data = write_table(tmp_path / "new.csv", x, y)
    summary = predict_file(str(model_path), str(data), str(tmp_path / "p.csv"), processes=processes)
    model = json.loads(model_path.read_text())
    want = LinearRegression()
    want.coef_, want.intercept_ = np.array(model["exact"]["coef"]), model["exact"]["intercept"]
    pred = want.predict(x)
    rows = read_predictions(tmp_path / "p.csv")
    assert [int(r[0]) for r in rows] == list(range(2, len(y) + 2))
    np.testing.assert_allclose([float(r[1]) for r in rows], pred, rtol=1e-13)
    assert all(r[2] == "" for r in rows)
    assert summary["rows"] == summary["scored_rows"] == len(y) and summary["target"] == "y"
    assert summary["bad_rows"]["count"] == 0
    np.testing.assert_allclose(summary["rmse"], mean_squared_error(y, pred) ** 0.5, rtol=1e-10)
    np.testing.assert_allclose(summary["r2"], r2_score(y, pred), rtol=1e-10)


@pytest.mark.parametrize("unit", [1e300, 1e-300])
def test_the_scores_of_targets_near_the_ends_of_the_doubles_are_finite_and_exact(tmp_path, unit):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 1))
    y = (2 * x[:, 0] + 1 + 0.1 * rng.standard_normal(300)) * unit
    model = train_file(str(write_table(tmp_path / "t.csv", x, y)), "y", chunks=2)
    (tmp_path / "m.json").write_text(dumps_json(model))
    data = write_table(tmp_path / "n.csv", x, y)
    summary = predict_file(
        str(tmp_path / "m.json"), str(data), str(tmp_path / "p.csv"), processes=2
    )
    pred = [float(r[1]) for r in read_predictions(tmp_path / "p.csv")]
    # the reference in exact rational arithmetic, from the same predictions
    res = [Fraction(a) - Fraction(b) for a, b in zip(y.tolist(), pred, strict=True)]
    mean = sum(map(Fraction, y.tolist())) / len(y)
    sse, m2 = sum(r * r for r in res), sum((Fraction(v) - mean) ** 2 for v in y.tolist())
    rmse = math.sqrt(sse / Fraction(unit) ** 2 / len(y)) * unit
    assert summary["rmse"] == pytest.approx(rmse, rel=1e-12)
    assert summary["r2"] == pytest.approx(float(1 - sse / m2), rel=1e-12)


def test_the_ridge_fit_predicts_when_asked(tmp_path, fitted):
    model_path, x, y = fitted
    data = write_table(tmp_path / "new.csv", x[:50], y[:50])
    predict_file(str(model_path), str(data), str(tmp_path / "p.csv"), method="ridge")
    ridge = json.loads(model_path.read_text())["ridge"]
    got = [float(r[1]) for r in read_predictions(tmp_path / "p.csv")]
    np.testing.assert_allclose(got, x[:50] @ ridge["coef"] + ridge["intercept"], rtol=1e-13)


def test_every_non_blank_line_gets_a_row_and_a_bad_one_says_why(tmp_path, fitted):
    model_path, _, _ = fitted
    long_cell = "9" * (5 << 20)
    text = "\n".join(
        [
            "x2,x0,x1,note",
            "1,2,3,a",
            "",
            "  ",
            "oops,2,3,b",
            '"4",5,6,"c, quoted"',
            f"1e308,1e308,{long_cell},d",
            "1e308,1e308,1e308,e",
            "1,2,3",
            "7,8,9,f",
        ]
    )
    data = tmp_path / "dirty.csv"
    data.write_text(text)
    summary = predict_file(str(model_path), str(data), str(tmp_path / "p.csv"), processes=2)
    rows = read_predictions(tmp_path / "p.csv")
    assert [int(r[0]) for r in rows] == [2, 5, 6, 7, 8, 9, 10]
    good = {int(r[0]) for r in rows if r[1]}
    assert good == {2, 6, 10}
    why = {int(r[0]): r[2] for r in rows if not r[1]}
    assert "column 'x2' is not a number" in why[5]
    assert "longer than" in why[7] and why[8] == "the prediction is not finite"
    assert "has 3 fields, the header has 4" in why[9]
    assert summary["rows"] == 3 and summary["bad_rows"]["count"] == 4
    assert summary["blank_lines"] == 2
    assert summary["target"] is None and summary["rmse"] is None and summary["r2"] is None
    shown = {e["line"]: e["text"] for e in summary["bad_rows"]["examples"]}
    assert shown[8] == "1e308,1e308,1e308,e" and shown[5] == "oops,2,3,b"


def test_a_row_that_cannot_be_predicted_names_its_feature_not_its_target(tmp_path):
    """With the target first, a row whose target and feature are both bad is not predicted
    because of its feature: its reason names the feature (a bad target alone is unscored)."""
    train = tmp_path / "t.csv"
    train.write_text("y,x\n3,1\n5,2\n7.1,3\n11,5\n")
    model = tmp_path / "m.json"
    write_json(model, train_file(str(train), "y", processes=1))
    data = tmp_path / "p.csv"
    data.write_text("y,x\nNA,NA\n,\nNA,4\n9,x\n")
    for processes in (1, 2):
        summary = predict_file(str(model), str(data), str(tmp_path / "o.csv"), processes=processes)
        why = {int(r[0]): r[2] for r in read_predictions(tmp_path / "o.csv")}
        assert why == {
            2: "column 'x' is not a number: 'NA'",
            3: "column 'x' is empty",
            4: "",
            5: "column 'x' is not a number: 'x'",
        }
        assert (summary["rows"], summary["unscored_rows"]) == (1, 1)


def test_a_row_without_a_usable_target_is_predicted_and_left_out_of_the_scores(tmp_path, fitted):
    model_path, x, y = fitted
    lines = [
        f"{a!r},{b!r},{c!r},{t!r}"
        for (a, b, c), t in zip(x[:6].tolist(), y[:6].tolist(), strict=True)
    ]
    lines[1] = lines[1].rsplit(",", 1)[0] + ","  # empty target
    lines[4] = lines[4].rsplit(",", 1)[0] + ",NA"
    data = tmp_path / "some.csv"
    data.write_text("x0,x1,x2,y\n" + "\n".join(lines) + "\n")
    summary = predict_file(str(model_path), str(data), str(tmp_path / "p.csv"))
    rows = read_predictions(tmp_path / "p.csv")
    assert all(r[1] and not r[2] for r in rows) and len(rows) == 6
    assert summary["rows"] == 6 and summary["scored_rows"] == 4
    assert summary["unscored_rows"] == 2 and summary["undefined"] == {}
    model = json.loads(model_path.read_text())["exact"]
    keep = [0, 2, 3, 5]
    pred = x[keep] @ model["coef"] + model["intercept"]
    np.testing.assert_allclose(
        summary["rmse"], mean_squared_error(y[keep], pred) ** 0.5, rtol=1e-12
    )


@pytest.mark.parametrize(
    ("model_text", "message"),
    [
        ("not json", "is not a model.json: it is not JSON"),
        ('{"exact": {"coef": [1], "intercept": 0}}', "its features or target are missing"),
        ("[1, 2]", "has no exact fit"),
        *(
            (
                f'{{"features": {f}, "target": "y", "exact": {{"coef": {c}, "intercept": 0}}}}',
                "its features must be distinct columns other than the target, at least one",
            )
            for f, c in (('["a", "a"]', "[1, 2]"), ('["a", "y"]', "[1, 2]"), ("[]", "[]"))
        ),
        (
            '{"features": ["x0"], "target": "y", "exact": {"coef": [1, 2], "intercept": 0}}',
            "needs 1 finite coefficients",
        ),
    ],
)
def test_a_file_that_is_not_a_model_is_one_sentence(tmp_path, model_text, message):
    (tmp_path / "m.json").write_text(model_text)
    data = write_table(tmp_path / "d.csv", np.ones((3, 1)), np.ones(3))
    with pytest.raises(PoolpipeError, match=message):
        predict_file(str(tmp_path / "m.json"), str(data), str(tmp_path / "p.csv"))
    assert not (tmp_path / "p.csv").exists()


def test_a_missing_feature_or_fit_is_one_sentence_and_writes_nothing(tmp_path, fitted):
    model_path, x, y = fitted
    data = write_table(tmp_path / "d.csv", x[:5, :2], y[:5])
    with pytest.raises(PoolpipeError, match="has no column 'x2', a feature of the model"):
        predict_file(str(model_path), str(data), str(tmp_path / "p.csv"))
    semi = tmp_path / "semi.csv"
    semi.write_text(data.read_text().replace(",", ";"))
    with pytest.raises(PoolpipeError, match=r"a feature of the model .*is the delimiter ';'\?\)$"):
        predict_file(str(model_path), str(semi), str(tmp_path / "p.csv"))
    plain = tmp_path / "plain.json"
    plain.write_text(dumps_json({**json.loads(model_path.read_text()), "ridge": None}))
    with pytest.raises(PoolpipeError, match=r"holds no ridge fit \(train.ridge above 0 adds one\)"):
        predict_file(str(plain), str(data), str(tmp_path / "p.csv"), method="ridge")
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(PoolpipeError, match=r"is the same file as data .*: choose another path"):
        predict_file(str(model_path), str(data), str(data))
    assert data.read_text().startswith("x0,x1,y")


def test_the_command_prints_the_summary_and_refuses_a_bad_output_path(tmp_path, fitted):
    model_path, x, y = fitted
    data = write_table(tmp_path / "d.csv", x[:20], y[:20])
    out = tmp_path / "p.csv"
    run = subprocess.run(
        [POOLPIPE, "predict", str(model_path), str(data), "--out", str(out), "--processes", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["rows"] == 20 and len(out.read_text().splitlines()) == 21
    (tmp_path / "dir.csv").mkdir()
    run = subprocess.run(
        [POOLPIPE, "predict", str(model_path), str(data), "--out", str(tmp_path / "dir.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and run.stderr.startswith("poolpipe: error: ")
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_score_that_cannot_be_computed_is_null_with_its_reason(tmp_path, fitted):
    model_path, x, y = fitted
    one = tmp_path / "one.csv"
    row = ",".join(map(repr, [*x[0].tolist(), float(y[0])]))
    one.write_text(f"x0,x1,x2,y\n{row}\n1,2,3,NA\n")
    summary = predict_file(str(model_path), str(one), str(tmp_path / "p.csv"))
    assert (summary["scored_rows"], summary["unscored_rows"], summary["r2"]) == (1, 1, None)
    assert summary["undefined"] == {"r2": "one row has a target: R² needs two"}
    bare = tmp_path / "bare.csv"
    bare.write_text("x0,x1,x2\n1,2,3\n")
    summary = predict_file(str(model_path), str(bare), str(tmp_path / "q.csv"))
    assert summary["rmse"] is None and summary["unscored_rows"] == 0
    assert summary["undefined"]["rmse"] == "the file has no target column 'y'"
