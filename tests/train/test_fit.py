"""The train stage: the exact merge against scikit-learn's full fit; the article's averages."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression

from poolpipe.core.chunks import Range, split_file
from poolpipe.core.outputs import dumps_json
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import Columns, choose_columns
from poolpipe.train.demo import write_train
from poolpipe.train.fit import TrainPart, merge_parts, train_chunks, train_range
from poolpipe.train.model import model_json, train_file
from poolpipe.train.rows import MALFORMED_QUOTES, parse_line
from poolpipe.train.scatter import Scatter
from poolpipe.train.solve import RANK_TOL, solve

TOL = 1e-9
POOLPIPE = str(Path(sys.executable).parent / "poolpipe")


def write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """A CSV of the arrays, every value written so that it parses back to the same double."""
    names = [f"x{i}" for i in range(x.shape[1])] + ["y"]
    lines = [",".join(names)]
    lines += [",".join(map(repr, [*row, t])) for row, t in zip(x.tolist(), y.tolist(), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Reference:
    """numpy's lstsq fit of the kept centered columns, spread to all columns (0 where aliased).

    Not scikit-learn's own: its cutoff (tol=1e-6 of the largest singular value) drops a column
    on a scale 1e-6 of another's, the unit-dependent rank this project's fit does not have.
    """

    coef_: np.ndarray
    intercept_: float
    rank_: int
    aliased: list[int]


def kept_by_reference(x: np.ndarray) -> list[int]:
    """Columns kept in order: those whose centered column is not (to RANK_TOL, as a sine) in
    the span of the centered columns kept before it, by numpy's lstsq on the data itself."""
    xc = x - x.mean(axis=0)
    kept: list[int] = []
    for j in range(x.shape[1]):
        col = xc[:, j]
        norm = np.linalg.norm(col)
        if norm == 0:
            continue
        if kept:
            sol = np.linalg.lstsq(xc[:, kept], col, rcond=None)[0]
            col = col - xc[:, kept] @ sol
        if np.linalg.norm(col) > 1e3 * RANK_TOL * norm:
            kept.append(j)
    return kept


def sklearn_fit(x: np.ndarray, y: np.ndarray) -> Reference:
    kept = kept_by_reference(x)
    coef = np.zeros(x.shape[1])
    xc, yc = x[:, kept] - x[:, kept].mean(axis=0), y - y.mean()
    if kept:
        coef[kept] = np.linalg.lstsq(xc, yc, rcond=None)[0]
    intercept = float(y.mean() - x.mean(axis=0) @ coef)
    aliased = [j for j in range(x.shape[1]) if j not in kept]
    return Reference(coef, intercept, len(kept), aliased)


def relative_errors(fit: dict, want: LinearRegression) -> tuple[float, float]:
    """Coefficient error relative to the largest coefficient; intercept error likewise."""
    scale = float(np.max(np.abs(want.coef_)))
    coef = float(np.max(np.abs(np.subtract(fit["coef"], want.coef_)))) / scale
    intercept = abs(fit["intercept"] - want.intercept_) / max(abs(want.intercept_), scale)
    return coef, intercept


def assert_matches(fit: dict, want: LinearRegression, tol: float = TOL) -> None:
    coef, intercept = relative_errors(fit, want)
    assert coef <= tol, (fit["coef"], want.coef_.tolist())
    assert intercept <= tol, (fit["intercept"], want.intercept_)


def data_starts(path: Path) -> list[int]:
    """Byte offset of every data line (after the header) and of the end of the file."""
    data = path.read_bytes()
    starts = [data.index(b"\n") + 1]
    while (nl := data.find(b"\n", starts[-1])) >= 0 and nl + 1 < len(data):
        starts.append(nl + 1)
    return [*starts, len(data)]


def ranges_at_rows(path: Path, sizes: list[int]) -> list[Range]:
    """Consecutive ranges holding sizes[0] rows, sizes[1] rows, ..., then the rest."""
    starts = data_starts(path)
    bounds = [0, *np.cumsum(sizes).tolist(), len(starts) - 1]
    return [Range(str(path), starts[a], starts[b]) for a, b in itertools.pairwise(bounds)]


def case(name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = 3000
    if name == "random":
        x = rng.standard_normal((n, 6)) * [1, 10, 0.1, 3, 1e-3, 100]
        return x, x @ rng.standard_normal(6) + 4 + rng.standard_normal(n)
    if name == "offset":
        x = rng.standard_normal((n, 4)) + 1e6
        return x, x @ [1.5, -2, 0.5, 3] - 7 + rng.standard_normal(n)
    if name == "offset_target":
        x = rng.standard_normal((n, 3)) * 1e-3 + [1e6, -1e6, 5e5]
        return x, x @ [3, 1, -2] + 1e6 + rng.standard_normal(n) * 1e-3
    if name == "near_collinear":
        x0 = rng.standard_normal(n)
        x = np.column_stack([x0, x0 + 1e-5 * rng.standard_normal(n), rng.standard_normal(n)])
        return x, x @ [1, 2, 3] + 0.1 * rng.standard_normal(n)
    if name == "exactly_collinear":
        x0 = rng.standard_normal(n)
        x = np.column_stack([x0, 2 * x0, rng.standard_normal(n), x0 - 3])
        return x, x @ [1, 1, 1, 1] + rng.standard_normal(n)
    if name == "constant_column":
        x = np.column_stack([rng.standard_normal(n), np.full(n, 5.0), rng.standard_normal(n)])
        return x, x @ [2, 7, -1] + rng.standard_normal(n)
    if name == "duplicated_column":
        x0 = rng.standard_normal(n)
        x = np.column_stack([x0, rng.standard_normal(n), x0])
        return x, 3 * x0 + x[:, 1] + 0.5 * rng.standard_normal(n)
    if name == "recipe_case":
        x = rng.random((n, 1))
        return x, 2 * x[:, 0] + 1 + rng.standard_normal(n) * 0.1
    raise ValueError(name)


CASES = [
    "random",
    "offset",
    "offset_target",
    "near_collinear",
    "exactly_collinear",
    "constant_column",
    "duplicated_column",
    "recipe_case",
]


@pytest.mark.parametrize("name", CASES)
def test_the_exact_merge_equals_one_fit_on_all_rows(tmp_path, name):
    x, y = case(name, np.random.default_rng(CASES.index(name)))
    path = write_csv(tmp_path / "t.csv", x, y)
    want = sklearn_fit(x, y)
    for processes, chunks in [(1, 1), (2, 2), (2, 7)]:
        model = train_file(str(path), "y", processes=processes, chunks=chunks)
        assert_matches(model["exact"], want)
        assert model["exact"]["rank"] == want.rank_
        assert model["rows"] == len(y)


def test_a_fit_is_byte_identical_whatever_the_pools_size(tmp_path):
    # a laptop's 2 processes and a cluster node's 3 or 16 give the same model.json: the pieces
    # a chunk is cut into, and so the merge's order, follow from its bytes alone
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200_000, 4)) * [1, 10, 1e3, 1e-2]
    y = x @ [1.5, -2.25, 0.125, 40] + rng.normal(size=len(x))
    path = write_csv(tmp_path / "t.csv", x, y)
    assert path.stat().st_size > 2 * 2 * (4 << 20)  # over two pieces in each of 2 chunks
    models = [
        dumps_json(train_file(str(path), "y", processes=p, chunks=2)["exact"]) for p in (1, 2, 3)
    ]
    assert models[1] == models[0] and models[2] == models[0]


@pytest.mark.parametrize("name", CASES)
def test_unequal_chunks_and_chunks_with_fewer_rows_than_features(tmp_path, name):
    x, y = case(name, np.random.default_rng(100 + CASES.index(name)))
    path = write_csv(tmp_path / "t.csv", x, y)
    columns = choose_columns(path, "y")
    ranges = ranges_at_rows(path, [1, 2, 0, 5, 1700, 3])
    parts = train_chunks(ranges, columns, processes=2)
    assert [p.rows for p in parts] == [1, 2, 0, 5, 1700, 3, len(y) - 1711]
    model = model_json(parts, columns)
    assert_matches(model["exact"], sklearn_fit(x, y))


def recipe_train_model(data_chunk: np.ndarray) -> tuple[np.ndarray, float]:
    """The article's recipe's worker, for any number of features (the target is the last column)."""
    x = data_chunk[:, :-1]
    y = data_chunk[:, -1]
    model = LinearRegression()
    model.fit(x, y)
    return model.coef_, model.intercept_


def rows_of(rng: Range) -> np.ndarray:
    """The rows of a range, parsed by numpy (the test files are all good rows)."""
    with open(rng.path, "rb") as fh:
        fh.seek(rng.start)
        text = fh.read(rng.size)
    return np.loadtxt(text.splitlines(), delimiter=",", ndmin=2)


@pytest.mark.parametrize("sizes", [None, [1, 2, 40, 500]])
def test_the_averages_are_the_article_recipe_computed_by_hand(tmp_path, sizes):
    x, y = case("recipe_case", np.random.default_rng(5))
    path = write_csv(tmp_path / "t.csv", x, y)
    ranges = split_file(path, 4, skip_header=True) if sizes is None else ranges_at_rows(path, sizes)
    columns = choose_columns(path, "y")
    model = model_json(train_chunks(ranges, columns, processes=2), columns)

    chunks = [rows_of(r) for r in ranges]
    results = [recipe_train_model(c) for c in chunks]
    all_coefs = [result[0] for result in results]
    all_intercepts = [result[1] for result in results]
    final_coef = np.mean(all_coefs)
    final_intercept = np.mean(all_intercepts)
    weights = [len(c) for c in chunks]

    average, weighted = model["average"], model["weighted_average"]
    assert abs(average["coef"][0] - final_coef) <= TOL * abs(final_coef)
    assert abs(average["intercept"] - final_intercept) <= TOL * abs(final_intercept)
    want_coef = np.average(np.array(all_coefs)[:, 0], weights=weights)
    want_intercept = np.average(all_intercepts, weights=weights)
    assert abs(weighted["coef"][0] - want_coef) <= TOL * abs(want_coef)
    assert abs(weighted["intercept"] - want_intercept) <= TOL * abs(want_intercept)
    for fit, (coef, intercept) in zip(model["chunk_fits"], results, strict=True):
        assert np.allclose(fit["coef"], coef, rtol=TOL, atol=0)
        assert abs(fit["intercept"] - intercept) <= TOL * abs(intercept)


def test_averages_of_many_features_are_per_feature_means_of_chunk_fits(tmp_path):
    x, y = case("random", np.random.default_rng(6))
    path = write_csv(tmp_path / "t.csv", x, y)
    ranges = ranges_at_rows(path, [3, 10, 1000])
    columns = choose_columns(path, "y")
    model = model_json(train_chunks(ranges, columns, processes=1), columns)
    fits = [sklearn_fit(c[:, :-1], c[:, -1]) for c in (rows_of(r) for r in ranges)]
    rows = [3, 10, 1000, len(y) - 1013]
    for name, weights in [("average", None), ("weighted_average", rows)]:
        coef = np.average([f.coef_ for f in fits], axis=0, weights=weights)
        intercept = np.average([f.intercept_ for f in fits], weights=weights)
        assert np.max(np.abs(np.subtract(model[name]["coef"], coef))) <= TOL * np.max(abs(coef))
        assert abs(model[name]["intercept"] - intercept) <= TOL * abs(intercept)
    assert_matches(model["exact"], sklearn_fit(x, y))
    assert relative_errors(model["average"], sklearn_fit(x, y))[0] > 1e-6


def test_empty_chunks_are_left_out_of_the_averages(tmp_path):
    x, y = case("recipe_case", np.random.default_rng(7))
    path = write_csv(tmp_path / "t.csv", x[:10], y[:10])
    model = train_file(str(path), "y", processes=2, chunks=40)
    assert model["chunks"] == 40
    fitted = [f for f in model["chunk_fits"] if f["rows"]]
    assert model["chunks_averaged"] == len(fitted) == 10
    assert all("coef" not in f for f in model["chunk_fits"] if not f["rows"])
    assert model["average"]["intercept"] == pytest.approx(np.mean([f["intercept"] for f in fitted]))
    assert_matches(model["exact"], sklearn_fit(x[:10], y[:10]))
    # one row a chunk tells no coefficient: the averages are said to be worth nothing
    assert model["average_warning"].startswith("10 of the 10 chunk fits averaged are rank-def")
    assert train_file(str(path), "y", processes=1, chunks=2)["average_warning"] is None


@given(st.lists(st.integers(0, 60), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
@settings(max_examples=60)
def test_scatters_merge_exactly_in_any_grouping(sizes, seed):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((sum(sizes) + 8, 4)) * [1, 1e3, 1e-3, 1] + [0, 5e5, 0, 1]
    merged = Scatter.empty(4)
    start = 0
    for size in [*sizes, 8]:
        merged = merged.merge(Scatter.of(values[start : start + size]))
        start += size
    whole = Scatter.of(values)
    assert merged.rows == whole.rows
    assert np.all(np.abs(merged.mean - whole.mean) <= 1e-13 * np.abs(values).max(axis=0))
    assert np.allclose(merged.r.T @ merged.r, whole.r.T @ whole.r, rtol=1e-9, atol=1e-6)
    fit = solve(merged, (0.0,) * 4)
    want = sklearn_fit(values[:, :3], values[:, 3])
    assert_matches(fit.to_json(), want, 1e-8)


def test_a_part_round_trips_through_json_exactly(tmp_path):
    text = b"x,y\n1,2\n3,5\nbad,1\n4,4.5\n"
    path = tmp_path / "t.csv"
    path.write_bytes(text)
    columns = choose_columns(path, "y")
    (part,) = train_chunks(split_file(path, 1, skip_header=True), columns, processes=1)
    again = TrainPart.from_json(json.loads(dumps_json(part.to_json())))
    assert again.to_json() == part.to_json()
    assert np.array_equal(again.scatter.r, part.scatter.r)


def reference_bad_lines(path: Path, columns: Columns) -> list[tuple[int, str]]:
    """(line number, reason) of every bad row, by the reference rule, line by line."""
    lines = path.read_bytes().split(b"\n")[1:]
    if lines and lines[-1] == b"":
        lines.pop()
    bad = []
    for number, line in enumerate(lines, start=2):
        got = parse_line(line, columns)
        if isinstance(got, str):
            bad.append((number, got))
    return bad


def messy_file(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """Good rows with bad ones spread through the file: every kind, in every chunk."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((400, 2))
    y = x @ [2, -1] + 3 + 0.1 * rng.standard_normal(400)
    good = [f"{a!r},text,{b!r},{t!r}" for (a, b), t in zip(x.tolist(), y.tolist(), strict=True)]
    bad = [
        ",s,1,2",
        "1,s,,2",
        "1,s,2,NA",
        "1,s,2",
        "1,s,2,3,4",
        "abc,s,1,2",
        "1,s,1e999,2",
        '"1,s,2,3',
        "1,s,2,1.2.3",
    ]
    lines, kept = [], []
    for i, row in enumerate(good):
        if i % 37 == 5:
            lines.append(bad[(i // 37) % len(bad)])
        if i % 53 == 7:
            lines.append("   ")
        lines.append(row)
        kept.append(i)
    path = tmp_path / "messy.csv"
    path.write_text("a,name,b,y\r\n" + "\r\n".join(lines) + "\r\n")
    return path, x, y


def test_bad_rows_are_skipped_counted_and_reported_with_their_line_numbers(tmp_path):
    path, x, y = messy_file(tmp_path)
    columns = choose_columns(path, "y")
    assert columns.feature_names == ["a", "b"]
    want_bad = reference_bad_lines(path, columns)
    assert len(want_bad) == 11
    for processes, chunks in [(1, 1), (2, 3), (2, 9)]:
        model = train_file(str(path), "y", processes=processes, chunks=chunks)
        assert model["skipped_rows"]["count"] == len(want_bad)
        examples = model["skipped_rows"]["examples"]
        assert [(e["line"], e["reason"]) for e in examples] == want_bad[:10]
        lines = path.read_bytes().decode().split("\r\n")
        assert all(lines[e["line"] - 1] == e["text"] for e in examples)
        assert model["rows"] == 400
        assert model["blank_lines"] == 8
        assert model["lines"] == len(lines) - 1
        assert_matches(model["exact"], sklearn_fit(x, y))
    assert examples[0]["reason"] == "column 'a' is empty"
    assert MALFORMED_QUOTES in {e["reason"] for e in examples}


def test_a_line_longer_than_a_block_is_one_skipped_row(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(b"x,y\n1,2\n" + b"9" * 300 + b",1\n2,3\n4,4\n")
    columns = choose_columns(path, "y")
    part = train_range(split_file(path, 1, skip_header=True)[0], columns, block_size=64)
    assert (part.rows, part.skipped_rows, part.lines) == (3, 1, 4)
    assert part.examples[0].line == 2
    assert part.examples[0].reason == "longer than 64 bytes"


def test_strict_mode_names_the_file_and_the_line(tmp_path):
    path, _, _ = messy_file(tmp_path)
    first_line, reason = reference_bad_lines(path, choose_columns(path, "y"))[0]
    with pytest.raises(PoolpipeError) as err:
        train_file(str(path), "y", processes=2, chunks=3, strict=True)
    assert str(err.value).startswith(f"{path}, line {first_line}: {reason}: ")
    late = tmp_path / "late.csv"
    late.write_bytes(b"x,y\n" + b"1,2\n3,4\n" * 2000 + b"5,oops\n" + b"6,7\n" * 10)
    with pytest.raises(PoolpipeError, match=r"late.csv, line 4002: column 'y' is not a number"):
        train_file(str(late), "y", processes=2, chunks=2, strict=True)


def test_parts_read_without_strict_are_not_labelled_strict(tmp_path):
    # merge_train under --rerun-triggers mtime, train.strict turned on after the chunks ran
    path, _, _ = messy_file(tmp_path)
    columns = choose_columns(path, "y")
    parts = train_chunks(split_file(path, 2, skip_header=True), columns, processes=1)
    skipped = sum(p.skipped_rows for p in parts)
    assert skipped and model_json(parts, columns)["strict"] is False
    with pytest.raises(PoolpipeError) as err:
        model_json(parts, columns, strict=True)
    assert str(err.value).startswith(
        f"the parts of {path} skipped {skipped} bad rows, where strict stops at the first"
    )


@pytest.mark.parametrize(
    ("text", "features", "message"),
    [
        (b"x,y\nA,1\nB,2\n", ["x"], r"has no usable rows \(2 skipped; the first, line 2: column"),
        (b"a,b,c,y\n1,2,3,4\n5,6,7,8\n", [], "has only 2 usable rows, fewer than its 3 features"),
        (b"", [], "is empty"),
        (b"x,y\n", [], "has a header but no data rows"),
        (b"x,y\n1,2\n", ["z"], "has no feature column 'z'"),
    ],
)
def test_unusable_inputs_are_one_sentence(tmp_path, text, features, message):
    path = tmp_path / "t.csv"
    path.write_bytes(text)
    with pytest.raises(PoolpipeError, match=message):
        train_file(str(path), "y", features=features, processes=2, chunks=2)


def test_as_many_rows_as_features_is_fitted_like_scikit_learn_on_the_kept_columns(tmp_path):
    x = np.array([[1.0, 2.0, 0.5], [2.0, 1.0, 0.25], [0.0, 4.0, 1.0]])
    y = np.array([1.0, 2.0, 4.0])
    path = write_csv(tmp_path / "t.csv", x, y)
    model = train_file(str(path), "y", processes=2, chunks=3)
    want = sklearn_fit(x, y)
    assert np.allclose(model["exact"]["coef"], want.coef_, rtol=1e-9, atol=1e-12)
    assert model["exact"]["rank"] == want.rank_ == 2


def test_the_full_fit_comparison(tmp_path):
    x, y = case("offset", np.random.default_rng(12))
    path = write_csv(tmp_path / "t.csv", x, y)
    model = train_file(str(path), "y", processes=2, chunks=3, compare_full_fit=True)
    assert_matches(model["full_fit"], sklearn_fit(x, y), 1e-12)
    diff = model["max_abs_diff_from_full_fit"]
    assert set(diff) == {"exact", "average", "weighted_average"}
    assert diff["exact"]["coef"] <= TOL * 3
    assert diff["average"]["coef"] > diff["exact"]["coef"]
    small = train_file(str(path), "y", compare_full_fit=True, full_fit_max_mb=0.1)
    assert small["full_fit"] is None
    assert "more than full_fit_max_mb = 0.1" in small["full_fit_skipped"]
    assert "full_fit" not in train_file(str(path), "y")


def test_results_are_deterministic_and_the_pool_matches_one_process(tmp_path):
    path, _, _ = messy_file(tmp_path)
    columns = choose_columns(path, "y")
    ranges = split_file(path, 3, skip_header=True)
    pooled = train_chunks(ranges, columns, processes=2)
    serial = train_chunks(ranges, columns, processes=2, serial=True)
    assert [p.to_json() for p in pooled] == [p.to_json() for p in serial]
    first = dumps_json(train_file(str(path), "y", processes=2, chunks=3))
    assert dumps_json(train_file(str(path), "y", processes=2, chunks=3)) == first


def test_merge_renumbers_examples_by_each_parts_line_count(tmp_path):
    path, _, _ = messy_file(tmp_path)
    columns = choose_columns(path, "y")
    ranges = split_file(path, 4, skip_header=True)
    parts = train_chunks(ranges, columns, processes=1)
    merged = merge_parts(parts, columns.width)
    want = [line - 1 for line, _ in reference_bad_lines(path, columns)][:10]
    assert [ex.line for ex in merged.examples] == want
    assert merged.lines == sum(p.lines for p in parts)


def test_the_demo_data_follows_its_settings(tmp_path):
    path = tmp_path / "demo.csv"
    size = write_train(path, 20000, seed=3, coef=[2.0, -1.0], intercept=1.0, noise=0.1, bad_rows=7)
    assert size == path.stat().st_size
    again = tmp_path / "again.csv"
    write_train(again, 20000, seed=3, coef=[2.0, -1.0], intercept=1.0, noise=0.1, bad_rows=7)
    assert again.read_bytes() == path.read_bytes()
    model = train_file(str(path), "y", processes=2, chunks=2)
    assert model["features"] == ["x1", "x2"]
    assert (model["rows"], model["skipped_rows"]["count"]) == (20000 - 7, 7)
    assert np.allclose(model["exact"]["coef"], [2.0, -1.0], atol=0.01)
    assert model["exact"]["intercept"] == pytest.approx(1.0, abs=0.01)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [POOLPIPE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_command_prints_the_same_json(tmp_path):
    path, _, _ = messy_file(tmp_path)
    run = run_cli("train", str(path), "--target", "y", "--features", "b, a", "--processes", "2")
    assert run.returncode == 0, run.stderr
    want = train_file(str(path), "y", features=["b", "a"], processes=2, chunks=2)
    assert run.stdout == dumps_json(want)
    assert json.loads(run.stdout)["features"] == ["b", "a"]


def test_the_command_reports_a_bad_input_in_one_line(tmp_path):
    path, _, _ = messy_file(tmp_path)
    run = run_cli("train", str(path), "--target", "nope")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"poolpipe: error: {path} has no target column 'nope'; its columns are"
        " 'a', 'name', 'b', 'y'"
    ]
    strict = run_cli("train", str(path), "--target", "y", "--strict", "--processes", "2")
    assert strict.returncode == 1
    assert "strict mode stops here" in strict.stderr and "Traceback" not in strict.stderr


def plain_gram_fit(x: np.ndarray, y: np.ndarray, chunks: int) -> dict:
    """The X^T X merge: sum each chunk's [1 X]^T [1 X] and [1 X]^T y, then solve."""
    a = np.column_stack([np.ones(len(y)), x])
    gram = sum(a[i::chunks].T @ a[i::chunks] for i in range(chunks))
    rhs = sum(a[i::chunks].T @ y[i::chunks] for i in range(chunks))
    sol = np.linalg.solve(gram, rhs)
    return {"coef": sol[1:], "intercept": sol[0]}


def centered_gram_fit(x: np.ndarray, y: np.ndarray, chunks: int) -> dict:
    """The Welford-style merge: chunk means and centered cross-products, merged exactly."""
    z = np.column_stack([x, y])
    p = x.shape[1]
    n, mean, scatter = 0, np.zeros(p + 1), np.zeros((p + 1, p + 1))
    for c in np.array_split(z, chunks):
        cm = c.mean(axis=0)
        delta = cm - mean
        total = n + len(c)
        scatter = scatter + (c - cm).T @ (c - cm) + np.outer(delta, delta) * n * len(c) / total
        mean, n = mean + delta * len(c) / total, total
    coef = np.linalg.lstsq(scatter[:p, :p], scatter[:p, p], rcond=1e-6)[0]
    return {"coef": coef, "intercept": mean[p] - mean[:p] @ coef}


@pytest.mark.parametrize(
    ("name", "method"), [("offset", plain_gram_fit), ("near_collinear", centered_gram_fit)]
)
def test_the_simpler_merges_miss_where_the_qr_merge_holds(tmp_path, name, method):
    x, y = case(name, np.random.default_rng(CASES.index(name)))
    want = sklearn_fit(x, y)
    assert max(relative_errors(method(x, y, 4), want)) > 1e-6
    path = write_csv(tmp_path / "t.csv", x, y)
    assert_matches(train_file(str(path), "y", processes=2, chunks=4)["exact"], want)


def test_memory_stays_bounded_whatever_the_file_size(tmp_path):
    """Peak RSS of the largest process well under the file's size (measured from a small relay
    process: Linux hands a process exec'd straight from pytest pytest's own peak)."""
    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        fh.write(b"x,y\n")
        block = b"".join(f"{i % 97}.5,{(3 * i) % 89}.25\n".encode() for i in range(1 << 16))
        while fh.tell() < 256 << 20:
            fh.write(block)
    code = (
        "import json, resource, sys\n"
        "from poolpipe.train import train_file\n"
        "model = train_file(sys.argv[1], 'y', processes=2, chunks=2)\n"
        "peak = max(resource.getrusage(w).ru_maxrss for w in"
        " (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
        "print(json.dumps({'rows': model['rows'], 'peak_kib': peak}))\n"
    )
    relay = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"
    run = subprocess.run(
        [sys.executable, "-c", relay, sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["rows"] == (path.stat().st_size - 4) // len(block) * (1 << 16)
    assert result["peak_kib"] * 1024 < path.stat().st_size / 2


def _exact_line_fit(path: Path) -> tuple[float, float]:
    """Slope and intercept of y on x from the file's 6-decimal text, in exact integers."""
    n = sx = sy = sxx = sxy = 0
    for line in path.read_text().splitlines()[1:]:
        a, b = (round(float(cell) * 10**6) for cell in line.split(","))
        n, sx, sy, sxx, sxy = n + 1, sx + a, sy + b, sxx + a * a, sxy + a * b
    slope = Fraction(n * sxy - sx * sy, n * sxx - sx * sx)
    return float(slope), float((sy - slope * sx) / n / 10**6)


def test_many_blocks_merge_to_the_exact_fit_whatever_the_chunks(tmp_path, monkeypatch):
    """Block summaries merge pairwise: one running summary of 12,500 blocks drifted 3e-14."""
    import poolpipe.train.scatter as scatter

    monkeypatch.setattr(scatter, "QR_ROWS", 8)  # 100,000 rows make 12,500 blocks
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, 100_000).round(6)
    y = (2 * x + 1 + rng.normal(0, 0.1, len(x))).round(6)
    path = write_csv(tmp_path / "t.csv", x[:, None], y)
    slope, intercept = _exact_line_fit(path)
    for processes, chunks in [(1, 1), (2, 1), (2, 2), (2, 7)]:
        exact = train_file(str(path), "y", processes=processes, chunks=chunks)["exact"]
        assert exact["coef"][0] == pytest.approx(slope, rel=2e-15, abs=0)
        assert exact["intercept"] == pytest.approx(intercept, rel=2e-15, abs=0)
