"""The statistics on 1M-row chunks against statsmodels, and training under a memory limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm

from poolpipe.core.chunks import split_file
from poolpipe.train.columns import choose_columns
from poolpipe.train.fit import train_chunks
from poolpipe.train.model import Options, model_json
from tests.train.test_inference import assert_close, check_against, with_intercept_first

pytestmark = pytest.mark.slow

ROWS = 1_000_000


@pytest.fixture(scope="module")
def million(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """1M rows: a feature at 1e6 scale, an ordinary one, the target and positive weights."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((ROWS, 2)) * [1e6, 1.0] + [3e6, 0.0]
    y = x @ [2e-7, 0.01] + 1 + rng.standard_normal(ROWS) * (1 + np.abs(x[:, 1]))
    w = rng.uniform(0.5, 2.0, ROWS)
    path = tmp_path_factory.mktemp("million") / "m.csv"
    table = np.column_stack([x, y, w]).tolist()
    with path.open("w") as fh:
        fh.write("x0,x1,y,w\n")
        fh.writelines(",".join(map(repr, row)) + "\n" for row in table)
    return path, x, y, w


@pytest.mark.parametrize("weighted", [False, True])
def test_one_chunk_of_a_million_rows_gives_statsmodels_statistics(million, weighted):
    path, x, y, w = million
    columns = choose_columns(path, "y", weights="w" if weighted else "", features=["x0", "x1"])
    ranges = split_file(path, 1, skip_header=True)
    parts = train_chunks(ranges, columns, processes=1, serial=True)
    model = model_json(parts, columns, options=Options(robust="hc3"), ranges=ranges)
    assert parts[0].rows == ROWS
    design = sm.add_constant(x)
    plain = (sm.WLS(y, design, weights=w) if weighted else sm.OLS(y, design)).fit()
    check_against(model["exact"], plain)
    centred_design = sm.add_constant(x - x.mean(axis=0))
    model_class = sm.WLS if weighted else sm.OLS
    kwargs = {"weights": w} if weighted else {}
    centred = model_class(y, centred_design, **kwargs).fit(cov_type="HC3", use_t=True)
    move = np.eye(3)
    move[0, 1:] = -x.mean(axis=0)
    cov = move @ centred.cov_params() @ move.T
    robust = model["exact"]["robust"]
    assert_close(with_intercept_first(robust, "std_err"), np.sqrt(np.diag(cov)), "HC3 std_err")
    assert_close(robust["t"]["coef"], centred.tvalues[1:], "HC3 t")


LIMITED = (
    "import json, resource, sys\n"
    "from poolpipe.train import Options, train_file\n"
    "model = train_file(sys.argv[1], 'y', processes=2, chunks=2, weights='w',"
    " options=Options(robust='hc3'))\n"
    "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
    "peak = max(int(status.split()[0]),"
    " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "print(json.dumps({'rows': model['rows'], 'n': model['exact']['n'], 'peak_kib': peak,"
    " 'se': model['exact']['robust']['std_err']['coef']}))\n"
)
LIMIT = 320 << 20
"""The data segment each process may have (RLIMIT_DATA); the file is larger than this."""
# The peak is this process's VmHWM, not getrusage(RUSAGE_SELF).ru_maxrss: Linux carries the
# ru_maxrss of the process that started it across exec (the fork of pytest, which holds
# whatever every earlier test left it), so in a long run it reports pytest's size, not ours.
# The pool's workers are forked and never exec, so RUSAGE_CHILDREN is theirs alone.


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (LIMIT, LIMIT))


def test_a_file_larger_than_the_memory_limit_trains_with_robust_errors(tmp_path):
    """Each process (the parent and its forked workers) may hold at most LIMIT bytes of data,
    less than the file; both passes (the fit and the robust errors' second pass) stream."""
    path = tmp_path / "big.csv"
    block = b"".join(f"{i % 97}.5,{(3 * i) % 89}.25,{1 + i % 3}\n".encode() for i in range(1 << 16))
    with path.open("wb") as fh:
        fh.write(b"x,y,w\n")
        while fh.tell() < LIMIT + (32 << 20):
            fh.write(block)
    assert path.stat().st_size > LIMIT
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", LIMITED, str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
        preexec_fn=_limit_memory,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    rows = (path.stat().st_size - 6) // len(block) * (1 << 16)
    assert result["rows"] == result["n"] == rows
    assert all(se is not None and se > 0 for se in result["se"])
    assert result["peak_kib"] * 1024 < LIMIT
