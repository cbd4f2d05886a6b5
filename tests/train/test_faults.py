"""The train stage's fault catalogue, through the real `poolpipe train` command: values near the
float limit are fitted like scikit-learn (columns held scaled by exact powers of two), a fit that
passes the float limit is one sentence, and model.json is strict JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from poolpipe.core.chunks import split_file
from poolpipe.train.choose import choose_columns
from poolpipe.train.fit import TrainPart, merge_parts, train_range
from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import solve

POOLPIPE = str(Path(sys.executable).with_name("poolpipe"))


def _train(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [POOLPIPE, "train", str(path), "--target", "y", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in model.json")

    return json.loads(text, parse_constant=refuse)


def _sklearn(rows: list[list[float]]) -> tuple[np.ndarray, float]:
    """scikit-learn's fit of columns each scaled by a power of two to at most 1, scaled back:
    without the scaling it calls a column of ordinary values beside one of 1e200 rank deficient."""
    data = np.array(rows)
    exponent = np.frexp(np.abs(data).max(axis=0))[1]
    scaled = np.ldexp(data, -exponent)
    model = LinearRegression().fit(scaled[:, :-1], scaled[:, -1])
    coef = np.ldexp(model.coef_, exponent[-1] - exponent[:-1])
    return coef, float(np.ldexp(model.intercept_, exponent[-1]))


EXTREME = {
    "feature_at_the_limit": [[1e308, 1], [-1e308, 2], [0, 3]],
    "target_at_the_limit": [[1, 1e308], [2, -1e308], [3, 0]],
    "both_huge": [[1e300, 1e307], [-1e300, -1e307], [5e299, 2e306], [0, 1e306]],
    "huge_and_ordinary": [[1e200, 1, 2], [-3e200, 2, 5], [2e200, 4, 3], [0, 8, 1], [1e199, 0, 9]],
}


@pytest.mark.parametrize("name", list(EXTREME))
@pytest.mark.parametrize("chunks", [1, 2])
def test_values_near_the_float_limit_are_fitted_like_scikit_learn(tmp_path, name, chunks):
    rows = EXTREME[name]
    width = len(rows[0])
    header = ",".join([f"x{i}" for i in range(width - 1)] + ["y"])
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + "".join(",".join(map(repr, r)) + "\n" for r in rows))
    done = _train(path, "--processes", "1", "--chunks", str(chunks))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    model = _strict(done.stdout)
    coef, intercept = _sklearn(rows)
    scale = np.abs(np.array(rows)).max(axis=0)
    got = np.array(model["exact"]["coef"])
    assert np.all(np.abs(got - coef) * scale[:-1] <= 1e-9 * scale[-1])
    assert abs(model["exact"]["intercept"] - intercept) <= 1e-9 * scale[-1]
    assert model["rows"] == len(rows)
    assert model["chunks"] == chunks


def test_unscaled_scikit_learn_agrees_where_every_column_is_huge(tmp_path):
    rows = EXTREME["feature_at_the_limit"]
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{a!r},{b!r}\n" for a, b in rows))
    model = _strict(_train(path, "--processes", "1", "--compare-full-fit").stdout)
    assert model["full_fit"]["coef"] == pytest.approx(model["exact"]["coef"], rel=1e-12)
    assert model["max_abs_diff_from_full_fit"]["exact"]["intercept"] <= 1e-12


def test_a_chunk_fit_past_the_float_limit_is_left_out_of_the_averages(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,1e308\n2,-1e308\n3,0\n4,0\n")
    done = _train(path, "--processes", "1", "--chunks", "2")
    assert done.returncode == 0, done.stderr
    model = _strict(done.stdout)
    assert model["chunks_averaged"] == 1
    assert model["chunk_fits"][0] == {
        "chunk": 0,
        "rows": 2,
        "not_finite": "a coefficient passes the float limit; left out of the averages",
    }
    assert model["average"] == {"coef": [0.0], "intercept": 0.0}


def test_a_fit_past_the_float_limit_is_one_sentence(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n0,1e300\n1e-300,-1e300\n0,1e300\n1e-300,-1e300\n")
    done = _train(path, "--processes", "1")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"poolpipe: error: {path}: the exact fit is not finite: a coefficient or the intercept "
        "passes the float limit (about 1.8e308); rescale the columns\n"
    )


def test_non_finite_fields_are_skipped_rows_and_the_model_is_strict_json(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n2,nan\ninf,3\n3,7\n4,9\n1e309,1\n")
    done = _train(path, "--processes", "1")
    assert done.returncode == 0, done.stderr
    model = _strict(done.stdout)
    assert model["rows"] == 3
    assert model["skipped_rows"]["count"] == 3


def test_ordinary_columns_are_never_scaled_and_parts_carry_the_scale(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,h,y\n1,1e300,2\n2,-1e300,4\n3,5e299,7\n4,0,9\n")
    columns = choose_columns(str(path), "y")
    parts = [train_range(r, columns) for r in split_file(str(path), 2, skip_header=True)]
    again = [TrainPart.from_json(json.loads(json.dumps(p.to_json()))) for p in parts]
    total = merge_parts(again, columns.width)
    assert total.scatter.exponent.tolist()[0] == 0
    assert total.scatter.exponent.tolist()[2] == 0
    assert total.scatter.exponent.tolist()[1] > 900
    whole = train_range(split_file(str(path), 1, skip_header=True)[0], columns)
    a, b = solve(total.scatter, columns.reference), solve(whole.scatter, columns.reference)
    assert np.allclose(a.coef, b.coef, rtol=1e-9)


def test_ordinary_data_gives_the_unscaled_summary_bit_for_bit():
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(5000, 4)) * 1e6 + 3e5
    reference = raw[0].copy()
    shifted_first = Scatter.empty(4).add(raw - reference)
    shifted_here = Scatter.empty(4).add(raw.copy(), reference)
    assert shifted_here.exponent.tolist() == [0, 0, 0, 0]
    assert np.array_equal(shifted_here.r, shifted_first.r)
    assert np.array_equal(shifted_here.mean, shifted_first.mean)
