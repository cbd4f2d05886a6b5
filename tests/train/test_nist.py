"""The exact fit against the NIST StRD linear least-squares datasets' certified values.

Each dataset (tests/train/nist/, README there) is written as a CSV with its polynomial
terms as columns (x1 = x, x2 = x², ..., each the double nearest the exact power), split
into three chunks over two processes and merged. Accuracy is the log relative error
(LRE, digits agreeing with the certified value; the log absolute error where the
certified value is 0), the measure of the published accuracy studies of statistical
software.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest

from poolpipe.train import Options, train_file

NIST = Path(__file__).with_name("nist")
CERTIFIED = json.loads((NIST / "certified.json").read_text())
DIGITS = 15.0
"""The certified values' digits: the most an LRE can show."""


def lre(value: float | None, certified: str) -> float:
    """Digits of value agreeing with the certified value (0 if none or if value is null)."""
    if value is None or not math.isfinite(value):
        return 0.0
    c = Fraction(certified)
    error = abs(Fraction(value) - c)
    if error == 0:
        return DIGITS
    relative = error / abs(c) if c else error
    return max(0.0, min(DIGITS, -math.log10(relative)))


def write_csv(name: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """The dataset as a CSV with its model's terms as columns; also the feature names."""
    rows = (NIST / f"{name}.csv").read_text().splitlines()
    header = rows[0].split(",")
    degree = CERTIFIED[name]["degree"]
    out = tmp_path / f"{name}.csv"
    if degree is None:
        out.write_text("\n".join(rows) + "\n")
        return out, header[1:]
    names = [f"x{k}" for k in range(1, degree + 1)]
    lines = ["y," + ",".join(names)]
    for row in rows[1:]:
        y, x = row.split(",")
        terms = [repr(float(Fraction(x) ** k)) for k in range(1, degree + 1)]
        lines.append(",".join([y, *terms]))
    out.write_text("\n".join(lines) + "\n")
    return out, names


def fit(name: str, tmp_path: Path) -> dict:
    path, names = write_csv(name, tmp_path)
    intercept = CERTIFIED[name]["intercept"]
    model = train_file(
        str(path),
        "y",
        features=names,
        processes=2,
        chunks=3,
        options=Options(intercept=intercept),
    )
    assert model["chunks"] == 3
    return model


def digits(name: str, exact: dict) -> dict[str, float]:
    """The LRE of every certified quantity of one fit, by name."""
    cert = CERTIFIED[name]
    coef = [*([exact["intercept"]] if cert["intercept"] else []), *exact["coef"]]
    se = exact["std_err"]
    sd = [*([se["intercept"]] if cert["intercept"] else []), *se["coef"]]
    out = {f"b{i}": lre(v, c) for i, (v, c) in enumerate(zip(coef, cert["coef"], strict=True))}
    out |= {f"sd b{i}": lre(v, c) for i, (v, c) in enumerate(zip(sd, cert["sd"], strict=True))}
    out["residual sd"] = lre(exact["residual_sd"], cert["residual_sd"])
    out["R2"] = lre(exact["r2"], cert["r2"])
    return out


@pytest.mark.parametrize("name", sorted(CERTIFIED))
def test_every_certified_value_holds_to_the_digits_asked(name: str, tmp_path: Path) -> None:
    model = fit(name, tmp_path)
    exact = model["exact"]
    assert exact["aliased"] == [] and exact["rank"] == len(model["features"])
    need = 7.0 if name == "Filip" else 9.0
    got = digits(name, exact)
    low = {what: round(d, 1) for what, d in got.items() if d < need}
    assert not low, f"{name}: fewer than {need} digits: {low}"


def test_the_data_are_the_published_ones() -> None:
    """Row counts of the .dat files, and certified values known independently of the files."""
    counts = {
        "Norris": 36,
        "Pontius": 40,
        "NoInt1": 11,
        "NoInt2": 3,
        "Filip": 82,
        "Longley": 16,
        **{f"Wampler{i}": 21 for i in range(1, 6)},
    }
    for name, count in counts.items():
        assert len((NIST / f"{name}.csv").read_text().splitlines()) == count + 1, name
    assert CERTIFIED["Norris"]["coef"][1] == "1.00211681802045"
    assert CERTIFIED["Longley"]["coef"][0] == "-3482258.63459582"
    assert CERTIFIED["Longley"]["residual_sd"] == "304.854073561965"


def test_lre_counts_digits() -> None:
    assert lre(1.0, "1") == DIGITS
    assert lre(1.000001, "1") == pytest.approx(6.0, abs=0.01)
    assert lre(1e-10, "0") == pytest.approx(10.0, abs=0.01)
    assert lre(None, "1") == 0.0


def exact_hc0_errors(path: Path) -> list[float]:
    """HC0 standard errors (intercept first) of the doubles of a CSV, in exact rational
    arithmetic: the coefficients, residuals and sandwich without any rounding."""
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    y = [Fraction(float(r[0])) for r in rows]
    x = [[Fraction(1)] + [Fraction(float(v)) for v in r[1:]] for r in rows]
    k = len(x[0])
    gram = [[sum(r[a] * r[b] for r in x) for b in range(k)] for a in range(k)]
    inverse = [[Fraction(int(i == j)) for j in range(k)] for i in range(k)]
    for c in range(k):  # Gauss-Jordan: the Gram matrix is positive definite, no pivoting
        pivot = gram[c][c]
        gram[c] = [v / pivot for v in gram[c]]
        inverse[c] = [v / pivot for v in inverse[c]]
        for r in range(k):
            if r != c and gram[r][c]:
                f = gram[r][c]
                gram[r] = [a - f * b for a, b in zip(gram[r], gram[c], strict=True)]
                inverse[r] = [a - f * b for a, b in zip(inverse[r], inverse[c], strict=True)]
    xty = [sum(r[a] * t for r, t in zip(x, y, strict=True)) for a in range(k)]
    coef = [sum(inverse[a][c] * xty[c] for c in range(k)) for a in range(k)]
    meat = [[Fraction(0)] * k for _ in range(k)]
    for r, t in zip(x, y, strict=True):
        e = t - sum(v * b for v, b in zip(r, coef, strict=True))
        for a in range(k):
            for c in range(k):
                meat[a][c] += e * e * r[a] * r[c]
    left = [[sum(inverse[a][u] * meat[u][c] for u in range(k)) for c in range(k)] for a in range(k)]
    return [math.sqrt(sum(left[a][c] * inverse[c][a] for c in range(k))) for a in range(k)]


def test_robust_errors_of_filip_hold_six_digits(tmp_path: Path) -> None:
    """Filip (κ = 3.8e9): the robust errors were (R11ᵀR11)⁻¹ times sums of the raw x, which
    squares κ past 1/eps; they came out 20 times too large (statsmodels' are off too)."""
    path, names = write_csv("Filip", tmp_path)
    model = train_file(str(path), "y", features=names, chunks=3, options=Options(robust="hc0"))
    robust = model["exact"]["robust"]
    got = [robust["std_err"]["intercept"], *robust["std_err"]["coef"]]
    want = exact_hc0_errors(path)
    assert all(abs(g / w - 1) < 1e-6 for g, w in zip(got, want, strict=True)), (got, want)
