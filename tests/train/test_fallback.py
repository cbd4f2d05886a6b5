"""Without the C parser (a failed compile) the reference rule parses: the same rows, bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolpipe.train import rows as row_reader
from poolpipe.train.model import train_file
from poolpipe.train.rows import parse_reference
from tests.train.test_inference import write_table
from tests.train.test_rows import LINE, bits, cols

try:
    from poolpipe.train import _csv
except ImportError:  # the fallback is what runs; the comparisons with C are skipped
    _csv = None

needs_c = pytest.mark.skipif(_csv is None, reason="the C parser is not built here")


@needs_c
@given(st.lists(LINE, max_size=30))
@settings(max_examples=300)
def test_the_fallback_returns_what_the_c_parser_returns(lines):
    data = b"\n".join(lines)
    for columns in (cols("a,b,c", "c", ["a"]), cols("a,b,c", "a", ["c", "b"])):
        capacity = row_reader.row_capacity(columns, len(data))
        want_out, got_out = np.zeros((capacity, columns.width)), np.zeros((capacity, columns.width))
        want = _csv.parse(data, want_out, ",", columns.slots(), 5)
        got = parse_reference(data, got_out, columns, 5)
        assert tuple(got[:4]) == tuple(want[:4])
        assert [tuple(span) for span in got[4]] == [tuple(span) for span in want[4]]
        rows = want[0]
        assert bits(got_out[:rows].ravel().tolist()) == bits(want_out[:rows].ravel().tolist())


def test_the_fallback_checks_the_output_buffer(monkeypatch):
    monkeypatch.setattr(row_reader, "_csv", None)
    with pytest.raises(ValueError, match="too small"):
        row_reader.parse_block(b"1,2\n3,4\n", cols("a,b", "b", ["a"]), out=np.empty((1, 2)))


FIT = (
    "import json, sys\n"
    "sys.modules['poolpipe.train._csv'] = None\n"
    "from poolpipe.train import rows, train_file, predict_file\n"
    "assert rows._csv is None\n"
    "model = train_file(sys.argv[1], 'y', processes=2, chunks=3)\n"
    "summary = predict_file(sys.argv[2], sys.argv[1], sys.argv[3], processes=2)\n"
    "print(json.dumps({'model': model, 'summary': summary}))\n"
)


def test_the_package_trains_and_predicts_when_the_c_parser_cannot_be_imported(tmp_path):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3000, 2))
    path = write_table(tmp_path / "t.csv", x, x @ [1.0, 2.0] + rng.standard_normal(3000))
    with path.open("a") as fh:
        fh.write("1,oops,3\n\n")
    want = train_file(str(path), "y", processes=2, chunks=3)
    (tmp_path / "m.json").write_text(json.dumps(want))
    run = subprocess.run(
        [sys.executable, "-c", FIT, str(path), str(tmp_path / "m.json"), str(tmp_path / "p.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["model"] == want
    assert got["summary"]["rows"] == 3000 and got["summary"]["bad_rows"]["count"] == 1
