"""Every statistic of model.json against statsmodels' OLS and WLS; ridge against scikit-learn."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, Ridge

from poolpipe.core.chunks import split_file
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import choose_columns
from poolpipe.train.fit import TrainPart, train_chunks
from poolpipe.train.model import Options, model_json, train_file
from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import solve
from tests.train.test_fit import ranges_at_rows

RTOL = 1e-8


def write_table(path: Path, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Path:
    """A CSV of the arrays (and a weight column w), every value parsing back to the same double."""
    names = [f"x{i}" for i in range(x.shape[1])] + ["y"] + ([] if w is None else ["w"])
    cols = [x, y[:, None]] + ([] if w is None else [w[:, None]])
    table = np.hstack(cols).tolist()
    path.write_text("\n".join([",".join(names), *(",".join(map(repr, r)) for r in table)]) + "\n")
    return path


def data(name: str, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, target and positive weights of a named case; the noise keeps t moderate."""
    rng = np.random.default_rng(seed)
    if name == "plain":
        x = rng.standard_normal((n, 3)) * [1, 10, 0.1]
        y = x @ [0.1, 0.02, 0.5] + 0.3 + rng.standard_normal(n)
    elif name == "scale_1e6":
        x = rng.standard_normal((n, 3)) * [1e6, 1e4, 30] + [1e6, -3e6, 5e6]
        y = x @ [1e-7, 2e-5, 0.004] + 2 + rng.standard_normal(n)
    elif name == "near_collinear":
        x0 = rng.standard_normal(n)
        x = np.column_stack([x0, x0 + 1e-3 * rng.standard_normal(n), rng.standard_normal(n)])
        y = x @ [0.5, 0.3, 0.1] + rng.standard_normal(n)
    else:
        raise ValueError(name)
    e = rng.standard_normal(n) * (1 + np.abs(x[:, 2] - x[:, 2].mean()) / (x[:, 2].std() + 1e-300))
    return x, y - rng.standard_normal(n) + e, rng.uniform(0.2, 3.0, n)


def assert_close(got, want, what: str) -> None:
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0, err_msg=what)


def with_intercept_first(block: dict, key: str) -> list:
    """A model.json table entry as statsmodels orders it: the intercept, then the features."""
    return [block[key]["intercept"], *block[key]["coef"]]


def fit_in_chunks(path: Path, rows: int, chunk_rows: int, **kwargs) -> dict:
    columns = choose_columns(path, "y", weights=kwargs.pop("weights", ""))
    sizes = [chunk_rows] * (rows // chunk_rows - 1)
    ranges = ranges_at_rows(path, sizes) if sizes else split_file(path, 1, skip_header=True)
    parts = train_chunks(ranges, columns, processes=1, serial=True)
    return model_json(parts, columns, ranges=ranges, **kwargs)


def check_against(exact: dict, res, robust: dict | None = None) -> None:
    """The coefficient table and the measures of fit against a statsmodels result."""
    assert_close(with_intercept_first(exact, "std_err"), res.bse, "std_err")
    assert_close(with_intercept_first(exact, "t"), res.tvalues, "t")
    assert_close(with_intercept_first(exact, "p"), res.pvalues, "p")
    assert_close(with_intercept_first(exact, "conf_int"), res.conf_int(), "conf_int")
    assert_close(exact["r2"], res.rsquared, "r2")
    assert_close(exact["adj_r2"], res.rsquared_adj, "adj_r2")
    assert_close(exact["f_stat"], res.fvalue, "f_stat")
    assert_close(exact["f_p"], res.f_pvalue, "f_p")
    assert_close(exact["rss"], res.ssr, "rss")
    assert_close(exact["tss"], res.centered_tss, "tss")
    assert exact["df_model"] == res.df_model and exact["df_resid"] == res.df_resid
    assert exact["n"] == res.nobs
    if robust is not None:
        kind = robust["kind"]
        assert_close(
            with_intercept_first(robust, "std_err"), getattr(res, f"{kind.upper()}_se"), kind
        )


@pytest.mark.parametrize("name", ["plain", "scale_1e6", "near_collinear"])
@pytest.mark.parametrize("chunk_rows", [2, 400])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_statistics_are_statsmodels(tmp_path, name, chunk_rows, weighted):
    x, y, w = data(name)
    path = write_table(tmp_path / "t.csv", x, y, w if weighted else None)
    model = fit_in_chunks(path, len(y), chunk_rows, weights="w" if weighted else "")
    design = sm.add_constant(x)
    res = (sm.WLS(y, design, weights=w) if weighted else sm.OLS(y, design)).fit()
    check_against(model["exact"], res)
    assert_close([model["exact"]["intercept"], *model["exact"]["coef"]], res.params, "coef")


@pytest.mark.parametrize("kind", ["hc0", "hc1", "hc2", "hc3"])
@pytest.mark.parametrize(
    ("name", "weighted"), [("plain", False), ("scale_1e6", True), ("near_collinear", True)]
)
def test_robust_errors_are_statsmodels_hc_errors(tmp_path, kind, name, weighted):
    """HC0..HC3 against statsmodels, also fitted on the features minus their means and moved
    back to the data's intercept: on the raw 1e6-scale design statsmodels' own leverages (from
    the pseudo-inverse of the uncentered design) lose digits at 1e-8."""
    x, y, w = data(name, seed=1)
    path = write_table(tmp_path / "t.csv", x, y, w if weighted else None)
    weights = "w" if weighted else ""
    model = fit_in_chunks(path, len(y), 2, weights=weights, options=Options(robust=kind))
    table = model["exact"]["robust"]
    assert table["kind"] == kind

    def fit(features, **kwargs):
        design = sm.add_constant(features)
        return (sm.WLS(y, design, weights=w) if weighted else sm.OLS(y, design)).fit(**kwargs)

    if name == "plain":
        check_against(model["exact"], fit(x), table)
    centred = fit(x - x.mean(axis=0), cov_type=kind.upper(), use_t=True)
    move = np.eye(x.shape[1] + 1)
    move[0, 1:] = -x.mean(axis=0)
    cov = move @ centred.cov_params() @ move.T
    assert_close(with_intercept_first(table, "std_err"), np.sqrt(np.diag(cov)), "robust std_err")
    assert_close(table["t"]["coef"], centred.tvalues[1:], "robust t")
    assert_close(table["p"]["coef"], centred.pvalues[1:], "robust p")
    assert_close(table["conf_int"]["coef"], centred.conf_int()[1:], "robust conf_int")


def test_the_pool_and_the_command_give_the_same_robust_errors(tmp_path):
    x, y, _ = data("plain", seed=2)
    path = write_table(tmp_path / "t.csv", x, y)
    pooled = train_file(str(path), "y", processes=2, chunks=3, options=Options(robust="hc2"))
    serial = fit_in_chunks(path, len(y), 400, options=Options(robust="hc2"))
    res = sm.OLS(y, sm.add_constant(x)).fit()
    assert_close(with_intercept_first(pooled["exact"]["robust"], "std_err"), res.HC2_se, "hc2")
    assert_close(
        pooled["exact"]["robust"]["std_err"]["coef"],
        serial["exact"]["robust"]["std_err"]["coef"],
        "pool",
    )


@pytest.mark.parametrize("alpha", [0.01, 0.2])
def test_the_interval_level_follows_alpha(tmp_path, alpha):
    x, y, _ = data("plain", seed=3)
    path = write_table(tmp_path / "t.csv", x, y)
    model = train_file(str(path), "y", processes=1, options=Options(alpha=alpha))
    want = sm.OLS(y, sm.add_constant(x)).fit().conf_int(alpha=alpha)
    assert model["exact"]["alpha"] == alpha
    assert_close(with_intercept_first(model["exact"], "conf_int"), want, "conf_int")


@pytest.mark.parametrize("penalty", [1e-3, 1.0, 250.0])
@pytest.mark.parametrize(
    ("name", "weighted"), [("plain", False), ("scale_1e6", True), ("near_collinear", False)]
)
def test_ridge_is_scikit_learns_ridge(tmp_path, penalty, name, weighted):
    x, y, w = data(name, seed=4)
    path = write_table(tmp_path / "t.csv", x, y, w if weighted else None)
    model = fit_in_chunks(
        path, len(y), 2, weights="w" if weighted else "", options=Options(ridge=penalty)
    )
    want = Ridge(alpha=penalty, solver="svd").fit(x, y, sample_weight=w if weighted else None)
    ridge = model["ridge"]
    assert ridge["alpha"] == penalty
    np.testing.assert_allclose(ridge["coef"], want.coef_, rtol=1e-9, atol=0)
    np.testing.assert_allclose(ridge["intercept"], want.intercept_, rtol=1e-9, atol=0)
    pred = x @ want.coef_ + want.intercept_
    weights = w if weighted else np.ones(len(y))
    rss = float(weights @ (y - pred) ** 2)
    np.testing.assert_allclose(ridge["rss"], rss, rtol=1e-9)
    assert train_file(str(path), "y", weights="w" if weighted else "")["ridge"] is None


def test_a_ridge_fit_of_a_target_near_1e_200_has_its_r2_and_rmse(tmp_path):
    """Its sums of squares were taken as squares, 0 below 1e-154: R² was null (said to be of a
    constant target) and the RMSE 0. A penalty of 1 on columns this small leaves the
    coefficients 0: R² 0, the RMSE the target's own spread."""
    x, y, _ = data("plain", seed=8)
    scale = 2.0**-700
    path = write_table(tmp_path / "t.csv", x * scale, y * scale)
    ridge = fit_in_chunks(path, len(y), 40, options=Options(ridge=1.0))["ridge"]
    assert ridge["coef"] == [0.0] * 3 and ridge["undefined"] == {}
    assert ridge["r2"] == 0.0
    np.testing.assert_allclose(ridge["rmse"], y.std() * scale, rtol=1e-12)


def test_a_rank_deficient_fit_names_the_aliased_columns(tmp_path):
    rng = np.random.default_rng(5)
    x0, x1 = rng.integers(-50, 50, (2, 300)).astype(float)
    x = np.column_stack([x0, x1, x0 + x1, rng.standard_normal(300)])
    y = x0 - x1 + 0.5 * x[:, 3] + rng.standard_normal(300)
    path = write_table(tmp_path / "t.csv", x, y)
    exact = fit_in_chunks(path, 300, 2)["exact"]
    kept = [0, 1, 3]
    want = sm.OLS(y, sm.add_constant(x[:, kept])).fit()
    assert exact["aliased"] == ["x2"] and exact["rank"] == 3
    np.testing.assert_allclose(np.array(exact["coef"])[kept], want.params[1:], rtol=1e-9)
    assert exact["coef"][2] == 0.0
    assert exact["df_model"] == 3 and exact["df_resid"] == 300 - 4
    np.testing.assert_allclose([exact["std_err"]["coef"][j] for j in kept], want.bse[1:], rtol=1e-8)
    assert exact["std_err"]["coef"][2] is None and exact["p"]["coef"][2] is None
    assert exact["r2"] == pytest.approx(want.rsquared, rel=1e-10)
    assert exact["f_stat"] == pytest.approx(want.fvalue, rel=1e-8)


@pytest.mark.parametrize("power", [-300, -200, 160, 300])
@pytest.mark.parametrize("kind", ["hc0", "hc3"])
def test_weights_of_any_size_give_the_same_fit_and_errors(tmp_path, power, kind):
    """WLS does not change when every weight is multiplied by one factor: not at 1e-300, where
    the product of two totals underflowed, nor at 1e160, where it overflowed."""
    x, y, w = data("plain", seed=2)
    path = write_table(tmp_path / "t.csv", x, y, w * 10.0**power)
    model = fit_in_chunks(path, len(y), 40, weights="w", options=Options(robust=kind))
    res = sm.WLS(y, sm.add_constant(x), weights=w).fit()
    exact = model["exact"]
    factor = 10.0**power  # the sums of squares are weighted: they carry the factor
    assert_close([exact["rss"], exact["tss"]], [res.ssr * factor, res.centered_tss * factor], "ss")
    check_against(exact | {"rss": res.ssr, "tss": res.centered_tss}, res, exact["robust"])
    assert_close([exact["intercept"], *exact["coef"]], res.params, "coef")


@pytest.mark.parametrize("kind", ["hc0", "hc3"])
def test_a_feature_near_1e_300_gets_its_true_errors_robust_ones_too(tmp_path, kind):
    """The robust sandwich of features near 1e-300 (or 1e-160) passed the float range, and the
    robust errors were null where the ordinary ones were right."""
    x, y, _ = data("plain", seed=3)
    scale = 2.0**-990  # about 1e-298, a power of two: statsmodels' design scaled exactly
    path = write_table(tmp_path / "t.csv", x * scale, y)
    model = fit_in_chunks(path, len(y), 40, options=Options(robust=kind))
    exact, res = model["exact"], sm.OLS(y, sm.add_constant(x)).fit()
    units = np.array([1.0, *[1 / scale] * x.shape[1]])  # coefficients and errors per 2**-990
    assert_close(with_intercept_first(exact, "std_err"), res.bse * units, "std_err")
    assert_close(with_intercept_first(exact, "t"), res.tvalues, "t")
    assert_close(with_intercept_first(exact, "p"), res.pvalues, "p")
    robust = exact["robust"]
    want = getattr(res, f"{kind.upper()}_se")
    assert_close(with_intercept_first(robust, "std_err"), want * units, kind)
    assert_close(with_intercept_first(robust, "t"), res.params / want, f"{kind} t")
    assert "undefined" not in robust


@pytest.mark.parametrize("kind", ["hc0", "hc3"])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_target_near_1e_163_gets_its_true_robust_errors(tmp_path, kind, weighted):
    """Residuals below 1e-154 square to subnormal numbers or 0: the robust errors were a few
    percent off, or 0, while the ordinary ones were right."""
    x, y, w = data("plain", seed=4)
    scale = 2.0**-540  # a power of two: the scaled target is exactly statsmodels' one
    path = write_table(tmp_path / "t.csv", x, y * scale, w if weighted else None)
    model = fit_in_chunks(
        path, len(y), 40, weights="w" if weighted else "", options=Options(robust=kind)
    )
    design = sm.add_constant(x)
    res = (sm.WLS(y, design, weights=w) if weighted else sm.OLS(y, design)).fit()
    robust = model["exact"]["robust"]
    want = getattr(res, f"{kind.upper()}_se") * scale
    assert_close(with_intercept_first(robust, "std_err"), want, kind)
    assert_close(with_intercept_first(robust, "t"), res.params / (want / scale), f"{kind} t")


@pytest.mark.parametrize("kind", ["hc2", "hc3"])
def test_robust_errors_without_residual_freedom_are_undefined_not_0(tmp_path, kind):
    """Two rows, a feature and the intercept: every row has leverage 1, so HC2 and HC3 divide
    0 by 0; they were written as 0 (and p as 0) for the rows the fit passes through."""
    path = tmp_path / "t.csv"
    path.write_text("x,y\n2,1\n3,2\n")
    robust = train_file(str(path), "y", options=Options(robust=kind))["exact"]["robust"]
    assert with_intercept_first(robust, "std_err") == [None, None]
    assert with_intercept_first(robust, "p") == [None, None]
    assert "leverage 1" in robust["undefined"]["std_err"]


def test_a_standard_error_below_the_float_range_is_not_called_a_perfect_fit(tmp_path):
    x, y, _ = data("plain", seed=7)
    path = write_table(tmp_path / "t.csv", x * 2.0**1000, y * 2.0**-1000)
    exact = fit_in_chunks(path, len(y), 40)["exact"]  # coefficients of 2**-2000: 0
    assert exact["std_err"]["coef"] == [0.0] * 3 and exact["t"]["coef"] == [None] * 3
    assert exact["undefined"]["t"].startswith("a standard error is below the float range")
    flat = tmp_path / "flat.csv"
    flat.write_text("x,y\n1,4\n2,4\n3,4\n")
    exact = train_file(str(flat), "y")["exact"]
    assert exact["undefined"]["t"].startswith("a standard error is 0 (a perfect fit)")


@pytest.mark.parametrize("weighted", [False, True])
def test_a_row_of_leverage_1_leaves_hc2_and_hc3_undefined_not_a_ratio_of_noise(tmp_path, weighted):
    """A dummy column that is 1 on one row only: the fit passes through that row, whose
    residual and 1 - leverage are rounding noise; HC3 was their ratio squared, a number."""
    x, y, w = data("plain", seed=5)
    x[:, 2] = 0.0
    x[7, 2] = 1.0
    path = write_table(tmp_path / "t.csv", x, y, w if weighted else None)
    weights = "w" if weighted else ""
    for kind in ("hc2", "hc3"):
        robust = fit_in_chunks(path, len(y), 40, weights=weights, options=Options(robust=kind))
        robust = robust["exact"]["robust"]
        assert with_intercept_first(robust, "std_err") == [None] * 4, kind
        assert "leverage 1" in robust["undefined"]["std_err"]
    model = fit_in_chunks(path, len(y), 40, weights=weights, options=Options(robust="hc0"))
    design = sm.add_constant(x)
    res = (sm.WLS(y, design, weights=w) if weighted else sm.OLS(y, design)).fit()
    assert_close(with_intercept_first(model["exact"]["robust"], "std_err"), res.HC0_se, "hc0")


def test_rows_with_a_bad_or_negative_weight_are_skipped_and_counted(tmp_path):
    x, y, w = data("plain", seed=6)
    w[[3, 50, 51]] = [-1.0, 0.0, -2.5]
    path = write_table(tmp_path / "t.csv", x, y, w)
    text = path.read_text().splitlines()
    text[10] = text[10].rsplit(",", 1)[0] + ",heavy"
    path.write_text("\n".join(text) + "\n")
    model = train_file(str(path), "y", weights="w", chunks=3)
    keep = w > 0
    keep[9] = False
    assert model["weights"] == "w"
    assert model["skipped_weights"] == 3 and model["skipped_rows"]["count"] == 1
    assert "column 'w' is not a number" in model["skipped_rows"]["examples"][0]["reason"]
    assert model["rows"] == model["exact"]["n"] == int(keep.sum())
    res = sm.WLS(y[keep], sm.add_constant(x[keep]), weights=w[keep]).fit()
    check_against(model["exact"], res)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("nope", "has no weights column 'nope'"),
        ("y", "the target 'y' is also named as the weights column"),
        ("x0", "the weights column 'x0' is also named as a feature"),
    ],
)
def test_a_bad_weights_column_is_one_sentence(tmp_path, weights, message):
    x, y, w = data("plain")
    path = write_table(tmp_path / "t.csv", x, y, w)
    features = ["x0", "x1"] if weights == "x0" else []
    with pytest.raises(PoolpipeError, match=message):
        train_file(str(path), "y", weights=weights, features=features)


def test_weights_that_are_all_zero_or_below_are_one_sentence(tmp_path):
    x, y, w = data("plain")
    path = write_table(tmp_path / "t.csv", x, y, -w)
    with pytest.raises(PoolpipeError, match=r"no usable rows .*400 with a weight of 0 or below"):
        train_file(str(path), "y", weights="w")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": 0.0}, "train.alpha must be at least 1e-300, not 0"),
        ({"alpha": 5e-324}, "train.alpha must be at least 1e-300, not 5e-324"),
        ({"alpha": float("nan")}, "train.alpha must be a number"),
        ({"ridge": -1.0}, "train.ridge must be at least 0, not -1"),
        ({"ridge": float("nan")}, "train.ridge must be a number"),
        ({"robust": "hc4"}, "robust must be one of none, hc0, hc1, hc2, hc3, not 'hc4'"),
    ],
)
def test_settings_out_of_range_are_one_sentence(options, message):
    with pytest.raises(PoolpipeError, match=re.escape(message)):
        Options(**options)


@given(st.lists(st.integers(0, 40), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
@settings(max_examples=40)
def test_weighted_scatters_merge_exactly_in_any_grouping(sizes, seed):
    """Weighted parts, added block by block and merged in any grouping, give scikit-learn's
    weighted fit and the total weight; a part round-trips through JSON with its weight."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((sum(sizes) + 8, 3)) * [1, 1e3, 1] + [0, 5e5, 1]
    weights = rng.uniform(0.1, 10, len(values))
    merged = Scatter.empty(3)
    start = 0
    for size in [*sizes, 8]:
        part = Scatter.empty(3).add(
            values[start : start + size].copy(), None, weights[start : start + size]
        )
        merged = merged.merge(part)
        start += size
    assert merged.rows == len(values)
    np.testing.assert_allclose(merged.weight, weights.sum(), rtol=1e-13)
    fit = solve(merged, (0.0,) * 3)
    want = LinearRegression().fit(values[:, :2], values[:, 2], sample_weight=weights)
    np.testing.assert_allclose(fit.coef, want.coef_, rtol=1e-8)
    np.testing.assert_allclose(fit.intercept, want.intercept_, rtol=1e-8)
    back = TrainPart.from_json(json.loads(json.dumps(TrainPart(scatter=merged).to_json())))
    assert back.scatter.weight == merged.weight


def test_an_interval_past_the_float_range_is_null_with_its_reason(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n0,0\n1,1e10\n2,0\n")
    exact = train_file(str(path), "y", options=Options(alpha=1e-300))["exact"]
    assert exact["conf_int"] == {"coef": [[None, None]], "intercept": [None, None]}
    assert exact["std_err"]["coef"][0] is not None
    assert exact["undefined"] == {"conf_int": "at alpha 1e-300 an interval passes the float range"}
    assert "conf_int" not in train_file(str(path), "y")["exact"]["undefined"]


def test_columns_near_the_float_limits_and_huge_weights_fit_without_overflow(tmp_path):
    """Squares of R's entries underflowed (1e-300: a forced, overflowing refinement) or
    overflowed (weights of 1e305: a weighted mean and the sums of squares)."""
    import warnings

    rng = np.random.default_rng(3)
    x = rng.uniform(1, 2, 500).tolist()
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("x,y\n" + "".join(f"{a!r},{(1.5 * a + 2) * 1e-300!r}\n" for a in x))
    heavy = tmp_path / "heavy.csv"
    rows = (f"{i},{i * 1.5 + i % 3},{1e305 if i % 2 else 3e305}\n" for i in range(40))
    heavy.write_text("x,y,w\n" + "".join(rows))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way either
        small = train_file(str(tiny), "y")["exact"]
        weighted = train_file(str(heavy), "y", weights="w", chunks=1)["exact"]
    assert small["coef"][0] == pytest.approx(1.5e-300, rel=1e-9)
    assert small["r2"] == pytest.approx(1.0)
    assert weighted["coef"][0] == pytest.approx(
        np.polyfit(
            np.arange(40),
            np.arange(40) * 1.5 + np.arange(40) % 3,
            1,
            w=np.sqrt([1.0 if i % 2 else 3.0 for i in range(40)]),
        )[0],
        rel=1e-12,
    )
    assert weighted["r2"] is not None and 0 < weighted["r2"] < 1
