"""The rank decision does not depend on units, and the summary a person reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from poolpipe.core.outputs import interval_level
from poolpipe.train import summary_text, train_file
from poolpipe.train.model import Options, p_value

POOLPIPE = str(Path(sys.executable).with_name("poolpipe"))


def write(path: Path, names: list[str], x: np.ndarray, y: np.ndarray) -> Path:
    lines = [",".join([*names, "y"])]
    lines += [",".join(map(repr, [*row, t])) for row, t in zip(x.tolist(), y.tolist(), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def scaled(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Columns a, b, twice = 2a exactly, thrice = 3a, and big in units 1e9 times the rest."""
    rng = np.random.default_rng(24)
    a, b, c = rng.standard_normal((3, 500))
    big = c * 1e9
    x = np.column_stack([a, b, 2 * a, 3 * a, big])
    y = 1.5 * a - 2 * b + 3e-9 * big + rng.standard_normal(500)
    names = ["a", "b", "twice", "thrice", "big"]
    return write(tmp_path / "s.csv", names, x, y), x, y


def test_an_exact_multiple_is_aliased_by_name_and_a_column_in_huge_units_is_not(scaled):
    path, x, y = scaled
    model = train_file(str(path), "y", processes=2, chunks=3)
    exact = model["exact"]
    assert exact["aliased"] == ["twice", "thrice"] and exact["rank"] == 3
    kept = [0, 1, 4]
    units = np.array([1.0, 1.0, 1e9])  # statsmodels given big in its own units loses 7 digits
    want = sm.OLS(y, sm.add_constant(x[:, kept] / units)).fit()
    got = [exact["coef"][j] for j in kept]
    np.testing.assert_allclose(got, want.params[1:] / units, rtol=1e-10)
    got = [exact["std_err"]["coef"][j] for j in kept]
    np.testing.assert_allclose(got, want.bse[1:] / units, rtol=1e-9)
    assert exact["coef"][2] == exact["coef"][3] == 0.0
    assert exact["std_err"]["coef"][2] is None and exact["t"]["coef"][3] is None
    assert exact["df_model"] == 3 and exact["df_resid"] == 500 - 4
    assert exact["r2"] == pytest.approx(want.rsquared, rel=1e-12)
    assert exact["f_stat"] == pytest.approx(want.fvalue, rel=1e-9)
    assert exact["condition_number"] < 2
    assert exact["warnings"][0].startswith("2 column(s) aliased")


def test_the_rank_does_not_change_with_the_units(tmp_path, scaled):
    _, x, y = scaled
    names = ["a", "b", "twice", "thrice", "big"]
    for factor in (1e-12, 1.0, 1e12):
        path = write(tmp_path / f"u{factor}.csv", names, x * [1, factor, 1, 1, 1], y)
        exact = train_file(str(path), "y", processes=1, chunks=2)["exact"]
        assert exact["aliased"] == ["twice", "thrice"], factor


def test_a_large_condition_number_is_a_warning(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(200)
    x = np.column_stack([a, a + 1e-5 * rng.standard_normal(200)])
    path = write(tmp_path / "c.csv", ["a", "near"], x, a + rng.standard_normal(200))
    exact = train_file(str(path), "y", processes=1)["exact"]
    want = np.linalg.cond((x - x.mean(0)) / np.linalg.norm(x - x.mean(0), axis=0))
    assert exact["condition_number"] == pytest.approx(want, rel=1e-6)
    assert exact["aliased"] == [] and "the condition number is large" in exact["warnings"][0]


def test_the_summary_has_a_named_row_per_coefficient_and_never_p_0(tmp_path, scaled):
    path, _, _ = scaled
    done = subprocess.run(
        [POOLPIPE, "train", str(path), "--target", "y", "--summary", "--processes", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text = done.stdout
    model = train_file(str(path), "y", processes=1)
    assert text == summary_text(model)
    rows = {line.split()[0]: line.split() for line in text.splitlines()[3:9]}
    assert set(rows) == {"intercept", "a", "b", "twice", "thrice", "big"}
    assert rows["twice"][1] == "aliased" and rows["thrice"][1] == "aliased"
    assert rows["b"][1] == f"{model['exact']['coef'][1]:.6g}"
    assert "aliased           twice, thrice" in text
    assert "observations      500" in text
    assert " 0 " not in text.replace("0 on", "")
    assert "p < 1e-300" in text  # F's p underflows: written as the bound, never 0


@pytest.mark.parametrize(
    ("p", "shown"), [(0.0, "< 1e-300"), (1e-320, "< 1e-300"), (0.0123456, "0.01235"), (None, "-")]
)
def test_p_values_are_never_written_as_0(p, shown):
    assert p_value(p) == shown


def test_the_summary_shows_the_robust_errors_asked_for_and_says_so(tmp_path):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((300, 2))
    y = x @ [1.0, -2.0] + rng.standard_normal(300) * (1 + np.abs(x[:, 0]))  # heteroscedastic
    path = write(tmp_path / "h.csv", ["a", "b"], x, y)
    model = train_file(str(path), "y", processes=2, options=Options(robust="hc3"))
    text = summary_text(model)
    want = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HC3")
    rows = {line.split()[0]: line.split() for line in text.splitlines()[3:6]}
    for i, name in enumerate(["intercept", "a", "b"]):
        assert float(rows[name][2]) == pytest.approx(want.bse[i], rel=1e-5), name
    assert "standard errors   HC3 (robust)" in text
    plain = summary_text(train_file(str(path), "y", processes=1))
    assert "standard errors   ordinary" in plain and plain != text


@pytest.mark.parametrize(
    ("alpha", "label"),
    [(0.05, "95%"), (0.0004, "99.96%"), (0.5, "50%"), (1e-11, "99.999999999%"),
     (1e-300, "1-1e-300")],
)  # fmt: skip
def test_the_interval_is_labelled_with_its_level_and_is_finite_for_a_tiny_alpha(
    tmp_path, alpha, label
):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((50, 1))
    path = write(tmp_path / "t.csv", ["a"], x, 2 * x[:, 0] + rng.standard_normal(50))
    model = train_file(str(path), "y", processes=1, options=Options(alpha=alpha))
    assert interval_level(alpha) == label
    assert summary_text(model).splitlines()[2].split()[-2:] == [f"[{label}", "interval]"]
    exact = model["exact"]
    q = stats.t.isf(alpha / 2, exact["df_resid"])
    low, high = exact["conf_int"]["coef"][0]
    se, coef = exact["std_err"]["coef"][0], exact["coef"][0]
    assert low == pytest.approx(coef - q * se, rel=1e-12)
    assert high == pytest.approx(coef + q * se, rel=1e-12)


def test_the_summary_says_why_a_perfect_fits_t_cells_are_empty(tmp_path):
    flat = tmp_path / "flat.csv"
    flat.write_text("x,y\n1,4\n2,4\n3,4\n")
    text = summary_text(train_file(str(flat), "y"))
    assert "\nundefined: a standard error is 0 (a perfect fit): its t is infinite (p 0)" in text
    one = tmp_path / "one.csv"
    one.write_text("x,y\n1,4\n2,5\n")
    text = summary_text(train_file(str(one), "y", options=Options(robust="hc3")))
    assert "\nundefined: not finite: a row of leverage 1 (one the fit must pass through)" in text
    assert "\nresidual SD       - (no residual degrees of freedom are left)\n" in text
