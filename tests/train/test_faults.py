"""The train stage's fault catalogue, through the real `poolpipe train` command: values near the
float limit are fitted like scikit-learn (columns held scaled by exact powers of two), a fit that
passes the float limit is one sentence, and model.json is strict JSON."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from poolpipe.core.chunks import split_file
from poolpipe.core.outputs import write_json
from poolpipe.errors import PoolpipeError
from poolpipe.train.columns import READ_LIMIT, Columns, choose_columns
from poolpipe.train.fit import TrainPart, merge_parts, train_range
from poolpipe.train.rows import MALFORMED_QUOTES
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


# The second review's cases for train and predict (docs/faults.md, "train"): each with the
# sentence, row or null it must give.


def _predict(model: Path, data: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [POOLPIPE, "predict", str(model), str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kw,
    )


def _error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    """A small training file and its model.json."""
    data = tmp_path / "t.csv"
    data.write_text("x,y\n1,2\n2,3\n3,5\n4,4\n")
    model = tmp_path / "model.json"
    done = _train(data)
    assert done.returncode == 0, done.stderr
    model.write_text(done.stdout)
    return data, model


def test_a_quoted_field_is_parsed_as_rfc_4180_says_or_counted_with_its_reason(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('x,y\n"1,5",2\n"1.5",2\n1,2\n2,3\n3,5\n')
    model = _strict(_train(path, "--processes", "1").stdout)
    assert model["rows"] == 4
    assert [e["reason"] for e in model["skipped_rows"]["examples"]] == [
        "column 'x' is not a number: '1,5'"
    ]


def test_a_quoted_field_spanning_lines_is_counted_as_bad_rows_with_the_reason(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('x,y\n"1\n5",2\n1,2\n2,3\n3,5\n')
    model = _strict(_train(path, "--processes", "1").stdout)
    reasons = [e["reason"] for e in model["skipped_rows"]["examples"]]
    assert model["skipped_rows"]["count"] == 2 and reasons[0] == MALFORMED_QUOTES


def test_the_last_line_of_a_text_field_over_lines_is_not_read_as_a_row(tmp_path):
    # its numbers would fit the columns: only the quote that ends the note tells
    path = tmp_path / "q.csv"
    path.write_text('x,y,note\n1,2,ok\n2,4,"hello\n100,-50,world"\n3,7,ok\n4,9,ok\n5,10.5,ok\n')
    model = _strict(_train(path, "--processes", "1").stdout)
    assert model["rows"] == 4 and model["skipped_rows"]["count"] == 2
    assert [e["line"] for e in model["skipped_rows"]["examples"]] == [3, 4]
    x, y = np.array([1.0, 3, 4, 5]), np.array([2, 7, 9, 10.5])
    slope, intercept = np.polyfit(x, y, 1)
    assert model["exact"]["coef"] == pytest.approx([slope], rel=1e-12)
    assert model["exact"]["intercept"] == pytest.approx(intercept, rel=1e-12)


def test_a_constant_target_gives_null_statistics_with_the_reason(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("x,y\n1,2\n2,2\n3,2\n4,2\n")
    done = _train(path, "--processes", "1")
    assert done.returncode == 0, done.stderr
    exact = _strict(done.stdout)["exact"]
    assert exact["r2"] is None and exact["adj_r2"] is None and exact["f_stat"] is None
    assert exact["undefined"]["r2"] == "the target is constant: it varies by nothing"
    summary = _train(path, "--processes", "1", "--summary").stdout
    assert "R²                - (the target is constant: it varies by nothing)" in summary


def test_weights_adding_up_past_the_float_limit_are_one_sentence(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("x,y,w\n1,2,1e308\n2,3,1e308\n3,5,1\n4,4,1\n")
    assert _error(_train(path, "--weights", "w", "--processes", "1")).endswith(
        "the weights add up past the float limit (about 1.8e308); divide them by a common factor"
    )


def test_a_header_longer_than_a_block_is_one_sentence_not_cut(tmp_path):
    path = tmp_path / "h.csv"
    names = ",".join(f"c{i}" for i in range(600_000))
    path.write_text(names + ",y\n" + ",".join(["1"] * 600_001) + "\n")
    size = len(names) + 3
    assert _error(_train(path, "--processes", "1")) == (
        f"poolpipe: error: {path}: the header line is {size:,} bytes, longer than the "
        "4,194,304 bytes a line may have"
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[" * 100_000, "it is nested too deeply"),
        (
            '{"exact": {"coef": [1], "intercept": ' + "9" * 100_000 + '}, "features": ["x"],'
            ' "target": "y"}',
            "it is not JSON (a number of 100,000 characters)",
        ),
        (
            '{"exact": {"coef": [1], "intercept": 1' + "0" * 320 + '}, "features": ["x"],'
            ' "target": "y"}',
            "its exact fit needs 1 finite coefficients and a finite intercept",
        ),
    ],
    ids=["deep", "long_number", "past_the_float_limit"],
)
def test_a_hostile_model_json_is_one_sentence(tmp_path, small, text, why):
    data, _ = small
    model = tmp_path / "bad.json"
    model.write_text(text)
    out = tmp_path / "p.csv"
    assert _error(_predict(model, data, "--out", str(out))) == (
        f"poolpipe: error: {model} is not a model.json: {why}"
    )
    assert not out.exists()


def _endless(tmp_path: Path, kind: str, label: str) -> tuple[Path, str]:
    """A file that never ends (a FIFO, a device, a sparse giant) and the sentence it gets."""
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
        return path, f"{label} {str(path)!r} is not a regular file"
    if kind == "device":
        return Path("/dev/zero"), f"{label} '/dev/zero' is not a regular file"
    path = tmp_path / "giant.json"
    with path.open("wb") as fh:
        fh.truncate(2 * READ_LIMIT)
    return path, f"{label} {str(path)!r} is larger than {READ_LIMIT:,} bytes"


@pytest.mark.parametrize("kind", ["fifo", "device", "sparse_giant"])
def test_a_model_file_that_never_ends_is_refused_with_a_bound(tmp_path, small, kind):
    data, _ = small
    model, want = _endless(tmp_path, kind, "model")
    assert _error(_predict(model, data, "--out", str(tmp_path / "p.csv"))) == (
        f"poolpipe: error: {want}"
    )


@pytest.mark.parametrize("through_link", [False, True])
def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path, small, through_link):
    data, model = small
    before = (data.read_bytes(), model.read_bytes())
    alias_data, alias_model = data, model
    out = tmp_path / "p.csv"
    if through_link:
        (tmp_path / "link").symlink_to(tmp_path)
        alias_data, alias_model = tmp_path / "link" / data.name, tmp_path / "link" / model.name
    cases = [
        (_train(data, "--timing", str(alias_data)), "--timing", alias_data, "input", data),
        (
            _predict(model, data, "--out", str(alias_model)),
            "--out",
            alias_model,
            "model",
            model,
        ),
        (_predict(model, data, "--out", str(alias_data)), "--out", alias_data, "data", data),
        (
            _predict(model, data, "--out", str(out), "--timing", str(out)),
            "--timing",
            out,
            "--out",
            out,
        ),
    ]
    for done, label, path, other, other_path in cases:
        assert _error(done) == (
            f"poolpipe: error: {label} {str(path)!r} is the same file as {other} "
            f"{str(other_path)!r}: choose another path"
        )
    assert (data.read_bytes(), model.read_bytes()) == before
    assert not out.exists()


def _file_limit(size: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_predictions_over_a_file_size_limit_are_one_sentence_and_no_partial_file(tmp_path, small):
    _, model = small
    data = tmp_path / "big.csv"
    data.write_text("x\n" + "".join(f"{i / 7!r}\n" for i in range(20_000)))
    out = tmp_path / "out" / "p.csv"
    done = _predict(
        model, data, "--out", str(out), "--processes", "2", preexec_fn=_file_limit(64 * 1024)
    )
    assert _error(done) == f"poolpipe: error: {str(out)!r} cannot be written: File too large"
    assert not out.exists() and os.listdir(out.parent) == []


def test_a_pool_that_cannot_get_its_shared_memory_is_one_sentence(tmp_path, small):
    data, _ = small
    done = subprocess.run(
        [POOLPIPE, "train", str(data), "--target", "y"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=_file_limit(512),
    )
    assert _error(done) == (
        "poolpipe: error: the process pool cannot start: its shared memory cannot be made "
        "(File too large)"
    )


@pytest.fixture
def handoff(tmp_path: Path) -> tuple[Path, Path, Columns, TrainPart]:
    """The files split_train and train_chunk hand to the next rule: columns.json and a part."""
    data = tmp_path / "t.csv"
    data.write_text("x,z,y\n1,0,2\n2,1,3\n3,0,5\nbad,1,1\n4,1,4\n")
    columns = choose_columns(data, "y")
    part = train_range(split_file(data, 1, skip_header=True)[0], columns)
    write_json(tmp_path / "columns.json", columns.to_json())
    write_json(tmp_path / "part.json", part.to_json())
    return tmp_path / "columns.json", tmp_path / "part.json", columns, part


def _read_handoff(kind: str, path: Path, width: int) -> Columns | TrainPart:
    return Columns.read(path) if kind == "columns" else TrainPart.read(path, width)


def test_the_files_one_train_rule_hands_the_next_read_back_unchanged(handoff):
    columns_json, part_json, columns, part = handoff
    assert Columns.read(columns_json) == columns
    got = TrainPart.read(part_json, columns.fit_width)
    assert got.to_json() == part.to_json() and got.skipped_rows == 1


@pytest.mark.parametrize("kind", ["columns", "part"])
@pytest.mark.parametrize("shape", ["fifo", "device", "sparse_giant"])
def test_a_handed_file_that_never_ends_is_refused_with_a_bound(tmp_path, handoff, kind, shape):
    label = {"columns": "columns file", "part": "train part"}[kind]
    path, want = _endless(tmp_path, shape, label)
    with pytest.raises(PoolpipeError) as caught:
        _read_handoff(kind, path, 3)
    assert str(caught.value) == want


def _edit(path: Path, change) -> None:
    """The file's document changed; the string "1e999" is written as that number (inf)."""
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc).replace('"1e999"', "1e999"))


HANDOFF_DAMAGE = {
    "columns_not_json": ("columns", "{", "it is not JSON (Expecting property name enclosed in"),
    "columns_deep": ("columns", "[" * 100_000, "it is nested too deeply"),
    "columns_a_list": ("columns", "[1, 2]", "TypeError: list indices must be integers"),
    "columns_field_past_header": (
        "columns",
        lambda doc: doc.update(feature_fields=[0, 7]),
        "its fields are not distinct columns of its header",
    ),
    "columns_short_reference": (
        "columns",
        lambda doc: doc.update(reference_row=[1.0]),
        "its features or reference row have the wrong length",
    ),
    "columns_huge_reference": (
        "columns",
        lambda doc: doc.update(reference_row=[1.0, 2.0, "1e999"]),
        "its reference row is not finite numbers",
    ),
    "part_long_number": ("part", '{"rows": ' + "1" * 5000 + "}", "a number of 5,000 characters"),
    "part_missing_field": ("part", lambda doc: doc.pop("r"), "KeyError: 'r'"),
    "part_negative_count": (
        "part",
        lambda doc: doc.update(skipped_rows=-1),
        "its counts are not whole numbers of 0 or more",
    ),
    "part_other_width": (
        "part",
        lambda doc: doc.update(mean=[0.0, 0.0], r=[[0.0, 0.0], [0.0, 0.0]], exponent=[0, 0]),
        "its summary is not one of 3 columns",
    ),
    "part_not_finite": (
        "part",
        lambda doc: doc["r"][0].__setitem__(0, "1e999"),
        "its summary is not finite numbers",
    ),
    "part_text_in_summary": (
        "part",
        lambda doc: doc.update(mean=["a", "b", "c"]),
        "its summary is not finite numbers",
    ),
    "part_example_without_line": (
        "part",
        lambda doc: doc["skipped_examples"][0].update(line="four"),
        "its skipped rows are not line numbers with text",
    ),
}


@pytest.mark.parametrize("case", list(HANDOFF_DAMAGE))
def test_a_damaged_handed_file_is_one_sentence(handoff, case):
    kind, damage, why = HANDOFF_DAMAGE[case]
    columns_json, part_json, _, _ = handoff
    path = columns_json if kind == "columns" else part_json
    if callable(damage):
        _edit(path, damage)
    else:
        path.write_text(damage)
    what = "a columns.json of split_train" if kind == "columns" else "a part of train_chunk"
    with pytest.raises(PoolpipeError) as caught:
        _read_handoff(kind, path, 3)
    message = str(caught.value)
    assert message.startswith(f"{path} is not {what}: ") and why in message
    assert "\n" not in message
