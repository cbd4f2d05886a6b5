"""Benchmark: linear regression on a 5M x 20 CSV: scikit-learn full fit, article's recipe, poolpipe.

The peers read the CSV with the fastest readers there are: pandas, pyarrow and polars (each
then fits scikit-learn on all rows), and pyarrow's and polars' streaming readers folding their
batches into one R factor by hand (bounded memory, like poolpipe, in one process).
Run `python bench/train.py --help`. Each method runs in a fresh interpreter (for a fair peak RSS)
and prints what it measured; this script prints the table with ratios and coefficient errors,
the share of poolpipe's time spent parsing CSV against the QR, and what a binary cache of the
parsed rows (.npy, made once) costs and saves.

`--digits` prints instead the accuracy table on the NIST StRD linear datasets (the digits each
of poolpipe, statsmodels, numpy's lstsq and scikit-learn gets right, the least over every
coefficient, standard deviation, residual SD and R²); `--ab SRC` times poolpipe's train on the
file against another checkout's src/ (the same C extension), alternating, in one run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from harness import CpuMeter, contention_note, log, machine, preload, run_fresh, usage

BENCH_DIR = Path(__file__).resolve().parent
MIB = 1 << 20
DATA_SEED = 1
TARGET = "y"

SLOW_SECONDS = 12.0
"""A method stops after its first run if that run took longer than this."""

POOLPIPE = ("poolpipe.core", "poolpipe.train")
MODULES = {
    "sklearn_pandas": ("sklearn.linear_model", "pandas"),
    "sklearn_pyarrow": ("sklearn.linear_model", "pyarrow.csv"),
    "sklearn_polars": ("sklearn.linear_model", "polars"),
    "pyarrow_stream": ("pyarrow.csv",),
    "polars_stream": ("polars",),
    "recipe": ("sklearn.linear_model", "pandas"),
    "poolpipe": POOLPIPE,
    "poolpipe_robust": POOLPIPE,
    "parse_only": POOLPIPE,
    "cache_make": POOLPIPE,
    "cache_train": ("threadpoolctl", *POOLPIPE),
    "profile": ("threadpoolctl", *POOLPIPE),
}
"""What each method imports, loaded before its clock starts (each run has its own interpreter,
so a method's peak RSS holds only its own modules)."""

LABELS = {
    "sklearn_pandas": "scikit-learn full fit (pandas read_csv)",
    "sklearn_pyarrow": "scikit-learn full fit (pyarrow read_csv)",
    "sklearn_polars": "scikit-learn full fit (polars read_csv)",
    "pyarrow_stream": "pyarrow open_csv batches, QR folded by hand",
    "polars_stream": "polars scan_csv streaming batches, QR folded by hand",
    "recipe": "article's recipe (read all, Pool.map of chunks, average)",
    "poolpipe": "poolpipe train (exact TSQR merge)",
    "poolpipe_robust": "poolpipe train + HC3 robust errors (second pass)",
    "parse_only": "poolpipe parse only (no QR)",
    "cache_make": "make a .npy cache of the parsed rows",
    "cache_train": "poolpipe TSQR from the .npy cache",
}


def coefficients(n_features: int) -> list[float]:
    """The true coefficients of the benchmark data: fixed, between -3 and 3."""
    return np.round(np.linspace(-3, 3, n_features), 3).tolist()


def fit_sklearn(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """scikit-learn's LinearRegression on all rows."""
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(x, y)
    return {"coef": model.coef_.tolist(), "intercept": float(model.intercept_)}


def run_sklearn_pandas(path: str, processes: int, cache: str) -> dict[str, Any]:
    """pandas read_csv (C engine, one thread), then LinearRegression.fit on all rows."""
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_csv(path, engine="c")
    x = frame.drop(columns=[TARGET]).to_numpy()
    y = frame[TARGET].to_numpy()
    del frame
    read = time.perf_counter() - start
    fit = fit_sklearn(x, y)
    return {**fit, "phases": {"read": read, "fit": time.perf_counter() - start - read}}


def run_sklearn_pyarrow(path: str, processes: int, cache: str) -> dict[str, Any]:
    """pyarrow's multithreaded read_csv, then LinearRegression.fit on all rows."""
    from pyarrow.csv import read_csv

    start = time.perf_counter()
    table = read_csv(path)
    names = [n for n in table.column_names if n != TARGET]
    x = np.column_stack([table[n].to_numpy() for n in names])
    y = table[TARGET].to_numpy()
    del table
    read = time.perf_counter() - start
    fit = fit_sklearn(x, y)
    return {**fit, "phases": {"read": read, "fit": time.perf_counter() - start - read}}


def run_sklearn_polars(path: str, processes: int, cache: str) -> dict[str, Any]:
    """polars' multithreaded read_csv, then LinearRegression.fit on all rows."""
    import polars as pl

    start = time.perf_counter()
    frame = pl.read_csv(path)
    x = frame.drop(TARGET).to_numpy()
    y = frame[TARGET].to_numpy()
    del frame
    read = time.perf_counter() - start
    fit = fit_sklearn(x, y)
    return {**fit, "phases": {"read": read, "fit": time.perf_counter() - start - read}}


def fold_qr(r: np.ndarray | None, batch: np.ndarray) -> np.ndarray:
    """The R of [R; [1 X y]]: one batch folded into a running QR (the usual streaming TSQR)."""
    rows = np.column_stack([np.ones(len(batch)), batch])
    stacked = rows if r is None else np.vstack([r, rows])
    return np.linalg.qr(stacked, mode="r")


def solve_folded(r: np.ndarray) -> dict[str, Any]:
    """Intercept and coefficients from the folded R of [1 X y]."""
    k = r.shape[1] - 1
    sol = np.linalg.lstsq(r[:k, :k], r[:k, k], rcond=None)[0]
    return {"coef": sol[1:].tolist(), "intercept": float(sol[0])}


def run_pyarrow_stream(path: str, processes: int, cache: str) -> dict[str, Any]:
    """pyarrow's streaming CSV reader (open_csv), each batch folded into one R factor."""
    from pyarrow.csv import ReadOptions, open_csv

    r = None
    reader = open_csv(path, read_options=ReadOptions(block_size=16 * MIB))
    names = reader.schema.names
    order = [n for n in names if n != TARGET] + [TARGET]
    for batch in reader:
        block = np.column_stack([batch.column(names.index(n)).to_numpy() for n in order])
        r = fold_qr(r, block)
    return solve_folded(r)


def run_polars_stream(path: str, processes: int, cache: str) -> dict[str, Any]:
    """polars' streaming engine (scan_csv, collect_batches), each batch folded into one R."""
    import polars as pl

    r = None
    frame = pl.scan_csv(path)
    order = [n for n in frame.collect_schema().names() if n != TARGET] + [TARGET]
    for batch in frame.select(order).collect_batches(chunk_size=100_000):
        r = fold_qr(r, batch.to_numpy())
    return solve_folded(r)


def train_model(data_chunk: np.ndarray) -> tuple[np.ndarray, float]:
    """The article's worker, for any number of features (the target is the last column)."""
    from sklearn.linear_model import LinearRegression

    X = data_chunk[:, :-1]
    y = data_chunk[:, -1]
    model = LinearRegression()
    model.fit(X, y)
    return model.coef_, model.intercept_


def run_recipe(path: str, processes: int, cache: str) -> dict[str, Any]:
    """The article's main on the file: read it all, cut cpu_count() chunks, Pool.map, average.

    The article's recipe makes its data in memory; here it reads the file with pandas first. Its
    np.mean(all_coefs) is taken per feature (axis=0): over all features it is a bug.
    """
    import pandas as pd

    start = time.perf_counter()
    data = pd.read_csv(path, engine="c").to_numpy()
    read = time.perf_counter() - start
    num_samples = len(data)
    num_processes = multiprocessing.cpu_count()
    chunk_size = num_samples // num_processes
    chunks = [data[i : i + chunk_size] for i in range(0, num_samples, chunk_size)]
    pool = multiprocessing.Pool(processes=num_processes)
    results = pool.map(train_model, chunks)
    pool.close()
    pool.join()
    all_coefs = [result[0] for result in results]
    all_intercepts = [result[1] for result in results]
    final_coef = np.mean(all_coefs, axis=0)
    final_intercept = np.mean(all_intercepts)
    phases = {"read": read, "pool": time.perf_counter() - start - read}
    return {"coef": final_coef.tolist(), "intercept": float(final_intercept), "phases": phases}


def run_poolpipe(path: str, processes: int, cache: str) -> dict[str, Any]:
    """poolpipe's train_file: exact merge, and the article's average over `processes` chunks."""
    from poolpipe.train import train_file

    model = train_file(path, TARGET, processes=processes, chunks=processes)
    return {
        "coef": model["exact"]["coef"],
        "intercept": model["exact"]["intercept"],
        "average": model["average"],
        "weighted_average": model["weighted_average"],
    }


def run_poolpipe_robust(path: str, processes: int, cache: str) -> dict[str, Any]:
    """poolpipe's train_file with HC3 robust errors: the rows are read a second time."""
    from poolpipe.train import Options, train_file

    model = train_file(
        path, TARGET, processes=processes, chunks=processes, options=Options(robust="hc3")
    )
    return {"coef": model["exact"]["coef"], "intercept": model["exact"]["intercept"]}


def _parse_piece(task: tuple[Any, Any]) -> int:
    """Parse one piece and keep nothing: the CSV share of a poolpipe run."""
    from poolpipe.core import iter_blocks
    from poolpipe.train import parse_block, row_capacity

    piece, columns = task
    out = np.empty((row_capacity(columns, 4 << 20), columns.width))
    return sum(len(parse_block(b.data, columns, out=out).values) for b in iter_blocks(piece))


def pieces_of(path: str, processes: int) -> tuple[Any, list[Any]]:
    """The columns and the pieces a poolpipe run with `processes` workers and chunks uses."""
    from poolpipe.core import pieces_for, split_file
    from poolpipe.train import choose_columns

    columns = choose_columns(path, TARGET)
    ranges = split_file(path, processes, skip_header=True)
    return columns, [p for r in ranges for p in pieces_for(r, processes)]


def run_parse_only(path: str, processes: int, cache: str) -> dict[str, Any]:
    """The same pool over the same pieces as poolpipe, parsing only."""
    from poolpipe.core import pool_map

    columns, pieces = pieces_of(path, processes)
    tasks = [(p, columns) for p in pieces]
    rows = sum(pool_map(_parse_piece, tasks, processes))
    return {"coef": None, "intercept": None, "rows": rows}


def _cache_piece(task: tuple[Any, Any, str]) -> int:
    """Parse one piece and save its rows as one .npy file; return the rows."""
    from poolpipe.core import iter_blocks
    from poolpipe.train import parse_block

    piece, columns, out = task
    blocks = [parse_block(b.data, columns).values for b in iter_blocks(piece)]
    rows = np.concatenate(blocks) if blocks else np.empty((0, columns.width))
    np.save(out, rows)
    return len(rows)


def run_cache_make(path: str, processes: int, cache: str) -> dict[str, Any]:
    """Parse the CSV in the pool once and write each piece's rows to <cache>/<i>.npy."""
    from poolpipe.core import pool_map

    columns, pieces = pieces_of(path, processes)
    target = Path(cache)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / "columns.json").write_text(json.dumps(columns.to_json()))
    tasks = [(p, columns, str(target / f"{i}.npy")) for i, p in enumerate(pieces)]
    rows = sum(pool_map(_cache_piece, tasks, processes))
    return {"coef": None, "intercept": None, "rows": rows}


CACHE_BLOCK_ROWS = 1 << 14


def _scatter_of_npy(task: tuple[str, list[float]]) -> Any:
    """The Scatter of one cached piece, streamed from a memory map in blocks of rows."""
    from threadpoolctl import threadpool_limits

    from poolpipe.train import Scatter

    path, reference = task
    rows = np.load(path, mmap_mode="r")
    scatter = Scatter.empty(rows.shape[1])
    with threadpool_limits(limits=1):
        for start in range(0, len(rows), CACHE_BLOCK_ROWS):
            block = rows[start : start + CACHE_BLOCK_ROWS] - np.asarray(reference)
            scatter = scatter.add(block)
    return scatter


def run_cache_train(path: str, processes: int, cache: str) -> dict[str, Any]:
    """poolpipe's TSQR and merge over the cached pieces, in the same pool."""
    from poolpipe.core import pool_map
    from poolpipe.train import Columns, Scatter, solve

    columns = Columns.from_json(json.loads((Path(cache) / "columns.json").read_text()))
    files = sorted(Path(cache).glob("*.npy"), key=lambda p: int(p.stem))
    scatter = Scatter.empty(columns.width)
    tasks = [(str(f), list(columns.reference)) for f in files]
    for part in pool_map(_scatter_of_npy, tasks, processes):
        scatter = scatter.merge(part)
    fit = solve(scatter, columns.reference)
    return {"coef": list(fit.coef), "intercept": fit.intercept}


def run_profile(path: str, processes: int, cache: str) -> dict[str, Any]:
    """poolpipe's per-block loop in one process, timing reading, parsing and the QR apart."""
    from threadpoolctl import threadpool_limits

    from poolpipe.core import iter_blocks
    from poolpipe.train import Scatter, parse_block, row_capacity

    columns, pieces = pieces_of(path, 1)
    reference = np.asarray(columns.reference)
    out = np.empty((row_capacity(columns, 4 << 20), columns.width))
    spent = {"read": 0.0, "parse": 0.0, "qr": 0.0}
    scatter = Scatter.empty(columns.width)
    with threadpool_limits(limits=1):
        for piece in pieces:
            blocks = iter_blocks(piece)
            while True:
                t0 = time.perf_counter()
                block = next(blocks, None)
                t1 = time.perf_counter()
                spent["read"] += t1 - t0
                if block is None:
                    break
                values = parse_block(block.data, columns, out=out).values
                t2 = time.perf_counter()
                values -= reference
                scatter = scatter.add(values)
                spent["parse"] += t2 - t1
                spent["qr"] += time.perf_counter() - t2
    return {"coef": None, "intercept": None, "phases": spent, "rows": scatter.rows}


METHODS: dict[str, Callable[[str, int, str], dict[str, Any]]] = {
    "sklearn_pandas": run_sklearn_pandas,
    "sklearn_pyarrow": run_sklearn_pyarrow,
    "sklearn_polars": run_sklearn_polars,
    "pyarrow_stream": run_pyarrow_stream,
    "polars_stream": run_polars_stream,
    "recipe": run_recipe,
    "poolpipe": run_poolpipe,
    "poolpipe_robust": run_poolpipe_robust,
    "parse_only": run_parse_only,
    "cache_make": run_cache_make,
    "cache_train": run_cache_train,
    "profile": run_profile,
}


def child_main(method: str, path: str, processes: int, cache: str) -> None:
    """Run one method once in this (fresh) process; print its result, time and peak RSS."""
    preload(MODULES[method])
    start = time.perf_counter()
    result = METHODS[method](path, processes, cache)
    seconds = time.perf_counter() - start
    print(json.dumps({**result, "seconds": seconds, "peak_kib": usage()["peak_kib"]}))


@dataclass
class Run:
    """One run of a method in its own subprocess."""

    coef: list[float] | None
    intercept: float | None
    seconds: float
    peak_kib: int
    phases: dict[str, float] = field(default_factory=dict)
    average: dict[str, Any] | None = None
    weighted_average: dict[str, Any] | None = None
    rows: int | None = None


def run_once(method: str, path: Path, processes: int, cache: Path) -> Run:
    """Run a method in a fresh interpreter and read back what it measured."""
    args = ["--_run", method, "--file", str(path), "--processes", str(processes)]
    return Run(**run_fresh(method, __file__, *args, "--cache", str(cache)))


@dataclass
class Row:
    """A table row: a method's median over its runs, its peak memory and its errors."""

    method: str
    label: str
    processes: int
    runs: list[Run]
    coef_error: float | None = None
    intercept_error: float | None = None
    vs_full: float = 0.0
    mem_vs_full: float = 0.0

    @property
    def median(self) -> float:
        """Median seconds over the runs."""
        return statistics.median(r.seconds for r in self.runs)

    @property
    def peak_mib(self) -> float:
        """The highest peak RSS over the runs, MiB."""
        return max(r.peak_kib for r in self.runs) / 1024

    def phase(self, name: str) -> float:
        """Median seconds of one phase over the runs."""
        return statistics.median(r.phases[name] for r in self.runs)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived numbers."""
        return {**asdict(self), "median_seconds": self.median, "peak_rss_mib": self.peak_mib}


def measure(method: str, args: argparse.Namespace, path: Path, processes: int) -> Row:
    """Run a method `repeats` times (once if its first run is slow)."""
    runs: list[Run] = []
    for i in range(args.repeats):
        run = run_once(method, path, processes, Path(args.out) / "train_cache")
        runs.append(run)
        mib = run.peak_kib / 1024
        log(f"  {method} [{processes}] run {i + 1}: {run.seconds:.3f} s, {mib:.0f} MiB")
        if run.seconds > SLOW_SECONDS:
            break
    return Row(method, LABELS.get(method, method), processes, runs)


def add_errors(row: Row, full: Run, fit: dict[str, Any] | Run) -> None:
    """Max absolute differences of a fit's coefficients and intercept from the full fit."""
    coef = fit["coef"] if isinstance(fit, dict) else fit.coef
    intercept = fit["intercept"] if isinstance(fit, dict) else fit.intercept
    if coef is None or full.coef is None:
        return
    row.coef_error = float(np.max(np.abs(np.subtract(coef, full.coef))))
    row.intercept_error = abs(intercept - full.intercept)


def ensure_file(path: Path, rows: int, features: int) -> None:
    """Write the benchmark CSV with poolpipe's demo writer unless it is there already."""
    if path.exists():
        log(f"reusing {path}")
        return
    from poolpipe.train import write_train

    log(f"writing {path}: {rows:,} rows x {features} features...")
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_train(path, rows, seed=DATA_SEED, coef=coefficients(features), intercept=1.0, noise=0.1)
    log(f"  written in {time.perf_counter() - start:.1f} s")


def warm(path: Path) -> None:
    """Read the file once so every method finds it in the page cache."""
    with open(path, "rb") as fh:
        while fh.read(16 * MIB):
            pass


def fmt_error(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def table(rows: list[Row]) -> str:
    """The plain-text report table."""
    w = max(len("method"), *(len(r.label) for r in rows))
    head = (
        f"{'method':<{w}} {'procs':>5} {'runs':>4} {'seconds':>8} {'peak RSS MiB':>12} "
        f"{'x full fit':>10} {'RSS/full':>8} {'max|dcoef|':>10} {'|dintercept|':>12}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.label:<{w}} {r.processes:>5} {len(r.runs):>4} {r.median:>8.3f} "
            f"{r.peak_mib:>12.0f} {r.vs_full:>10.2f} {r.mem_vs_full:>8.3f} "
            f"{fmt_error(r.coef_error):>10} {fmt_error(r.intercept_error):>12}"
        )
    return "\n".join(lines)


def cache_note(poolpipe: Row, make: Row, train: Row, path: Path, cache: Path) -> list[str]:
    """What the .npy cache costs, what it saves, and from which run on it pays."""
    size = sum(f.stat().st_size for f in cache.glob("*.npy"))
    saved = poolpipe.median - train.median
    lines = [
        f".npy cache: {size / MIB:.0f} MiB on disk for a {path.stat().st_size / MIB:.0f} MiB CSV;"
        f" making it took {make.median:.2f} s, a fit from it {train.median:.2f} s against"
        f" {poolpipe.median:.2f} s from the CSV"
    ]
    if saved <= 0:
        lines.append("  -> the cache never pays: a fit from it is no faster than from the CSV")
        return lines
    runs = int(make.median // saved) + 1
    lines.append(
        f"  -> k fits of the same file cost {make.median:.2f} + k x {train.median:.2f} s with the"
        f" cache against k x {poolpipe.median:.2f} s without: it pays from fit number {runs} on;"
        " the workflow fits each input once, so there it would only add work"
    )
    return lines


def profile_note(profile: Row) -> str:
    """Where the time of one poolpipe process goes."""
    phases = {k: profile.phase(k) for k in ("read", "parse", "qr")}
    total = sum(phases.values())
    shares = ", ".join(f"{k} {v:.2f} s ({v / total:.0%})" for k, v in phases.items())
    return f"poolpipe in one process, by phase: {shares}; other {profile.median - total:.2f} s"


def bench(args: argparse.Namespace) -> int:
    """Run every method on the file and print the table."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = Path(args.file) if args.file else out / f"train_{args.rows}x{args.features}.csv"
    ensure_file(path, args.rows, args.features)
    log(f"warming the page cache with {path}...")
    warm(path)
    log("measuring...")
    meter = CpuMeter()
    p = args.processes
    full = measure("sklearn_pandas", args, path, 1)
    rows = [
        full,
        measure("sklearn_pyarrow", args, path, 1),
        measure("sklearn_polars", args, path, 1),
        measure("pyarrow_stream", args, path, 1),
        measure("polars_stream", args, path, 1),
        measure("recipe", args, path, multiprocessing.cpu_count()),
        *(measure("poolpipe", args, path, n) for n in sorted({1, p})),
        measure("poolpipe_robust", args, path, p),
        measure("parse_only", args, path, p),
        measure("cache_make", args, path, p),
        measure("cache_train", args, path, p),
    ]
    profile = measure("profile", args, path, 1)
    others = meter.others_share()
    reference = full.runs[0]
    extra = []
    for row in rows:
        row.vs_full = full.median / row.median
        row.mem_vs_full = row.peak_mib / full.peak_mib
        add_errors(row, reference, row.runs[0])
        if row.method == "poolpipe":
            for name in ("average", "weighted_average"):
                avg = Row(
                    f"{name}",
                    f"  poolpipe's {name.replace('_', ' ')} of {row.processes}"
                    " chunk fits (same run)",
                    row.processes,
                    row.runs,
                )
                avg.vs_full, avg.mem_vs_full = row.vs_full, row.mem_vs_full
                add_errors(avg, reference, row.runs[0].__dict__[name])
                extra.append((row, avg))
    for row, avg in reversed(extra):
        rows.insert(rows.index(row) + 1, avg)
    pool = next(r for r in rows if r.method == "poolpipe" and r.processes == p)
    recipe = next(r for r in rows if r.method == "recipe")
    parse = next(r for r in rows if r.method == "parse_only")
    make = next(r for r in rows if r.method == "cache_make")
    train = next(r for r in rows if r.method == "cache_train")
    info = machine("scikit-learn", "pandas", "pyarrow", "polars")
    size = path.stat().st_size
    notes = [
        f"scikit-learn full fit (pandas): read {full.phase('read'):.2f} s + fit"
        f" {full.phase('fit'):.2f} s; (pyarrow): read {rows[1].phase('read'):.2f} s + fit"
        f" {rows[1].phase('fit'):.2f} s; (polars): read {rows[2].phase('read'):.2f} s + fit"
        f" {rows[2].phase('fit'):.2f} s; article's recipe: read {recipe.phase('read'):.2f} s +"
        f" pool {recipe.phase('pool'):.2f} s",
        f"poolpipe [{p}]: parsing alone takes {parse.median:.2f} s of its {pool.median:.2f} s"
        f" ({parse.median / pool.median:.0%}); the QR and merge the rest",
        profile_note(profile),
        *cache_note(pool, make, train, path, out / "train_cache"),
        "errors: max absolute difference from the scikit-learn full fit (pandas row)",
        "seconds: median of the runs, each in a fresh subprocess, timed around the call"
        " (interpreter start and imports excluded); peak RSS: max(ru_maxrss of the subprocess,"
        " of its largest child)",
        contention_note(others),
        info["line"],
    ]
    report = "\n".join(
        [
            f"file: {path} ({size:,} bytes, {args.rows:,} rows x {args.features} features"
            f" + target), in page cache",
            "",
            table(rows),
            "",
            *notes,
        ]
    )
    print(report)
    result = {
        "file": str(path),
        "bytes": size,
        "machine": info,
        "rows": [r.to_json() for r in rows],
        "profile": profile.to_json(),
        "notes": notes,
    }
    (out / "train.json").write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(out / "train_cache", ignore_errors=True)
    return 0


def nist_fits(name: str, folder: Path) -> dict[str, dict[str, float]]:
    """Each method's least LRE, per kind of certified value, on one NIST dataset."""
    sys.path.insert(0, str(BENCH_DIR.parent / "tests" / "train"))
    import statsmodels.api as sm
    import test_nist as t
    from sklearn.linear_model import LinearRegression

    from poolpipe.train import Options, train_file

    cert = t.CERTIFIED[name]
    path, names = t.write_csv(name, folder)
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    y, x = data[:, 0], data[:, 1:]
    intercept = cert["intercept"]
    design = sm.add_constant(x, has_constant="add") if intercept else x
    model = train_file(
        str(path), "y", features=names, processes=2, chunks=3, options=Options(intercept=intercept)
    )
    fits: dict[str, dict[str, Any]] = {"poolpipe": model["exact"]}
    ols = sm.OLS(y, design).fit()
    params, bse = list(ols.params), list(ols.bse)
    fits["statsmodels"] = {
        "coef": params[1:] if intercept else params,
        "intercept": params[0] if intercept else 0.0,
        "std_err": {
            "coef": bse[1:] if intercept else bse,
            "intercept": bse[0] if intercept else None,
        },
        "residual_sd": float(np.sqrt(ols.scale)),
        "r2": float(ols.rsquared),
    }
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    df = len(y) - design.shape[1]
    scale = float(resid @ resid) / df
    with np.errstate(all="ignore"):
        cov = scale * np.linalg.inv(design.T @ design)
        se = list(np.sqrt(np.abs(np.diag(cov))))
    tss = float(((y - y.mean()) ** 2).sum()) if intercept else float(y @ y)
    fits["numpy lstsq"] = {
        "coef": list(coef[1:]) if intercept else list(coef),
        "intercept": float(coef[0]) if intercept else 0.0,
        "std_err": {"coef": se[1:] if intercept else se, "intercept": se[0] if intercept else None},
        "residual_sd": float(np.sqrt(scale)),
        "r2": 1 - float(resid @ resid) / tss,
    }
    sk = LinearRegression(fit_intercept=intercept).fit(x, y)
    pred = sk.predict(x)
    fits["scikit-learn"] = {
        "coef": list(sk.coef_),
        "intercept": float(sk.intercept_),
        "std_err": {"coef": [None] * len(names), "intercept": None},
        "residual_sd": float(np.sqrt(((y - pred) ** 2).sum() / df)),
        "r2": 1 - float(((y - pred) ** 2).sum()) / tss,
    }
    out = {}
    for method, exact in fits.items():
        got = t.digits(name, exact)
        coef_digits = min(v for k, v in got.items() if k.startswith("b"))
        sd = [v for k, v in got.items() if k.startswith("sd")]
        out[method] = {
            "coef": coef_digits,
            "sd": min(sd) if method != "scikit-learn" else None,
            "rsd": got["residual sd"],
            "r2": got["R2"],
        }
    return out


def digits_table(out: Path) -> str:
    """The NIST StRD digits table: for each dataset and method, coef / sd / residual SD / R²."""
    folder = out / "nist"
    folder.mkdir(parents=True, exist_ok=True)
    order = [
        "Norris",
        "Pontius",
        "NoInt1",
        "NoInt2",
        "Filip",
        "Longley",
        *(f"Wampler{i}" for i in range(1, 6)),
    ]
    methods = ["poolpipe", "statsmodels", "numpy lstsq", "scikit-learn"]
    lines = [
        "digits agreeing with the NIST certified values (LRE, at most 15), the least over the"
        " coefficients / their SDs / residual SD / R²; poolpipe in 3 chunks over 2 processes",
        "",
        "| dataset | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for name in order:
        fits = nist_fits(name, folder)
        cells = []
        for method in methods:
            f = fits[method]
            sd = "-" if f["sd"] is None else f"{f['sd']:.1f}"
            cells.append(f"{f['coef']:.1f} / {sd} / {f['rsd']:.1f} / {f['r2']:.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


AB_SCRIPT = """
import sys, time, json, resource
sys.path.insert(0, sys.argv[1])
from poolpipe.train import train_file
def cpu():
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
start, start_cpu = time.perf_counter(), cpu()
model = train_file(sys.argv[2], "y", processes=int(sys.argv[3]))
print(json.dumps({"s": time.perf_counter() - start, "cpu": cpu() - start_cpu,
                  "rows": model["rows"], "refined": model["exact"].get("refined")}))
"""


def ab_table(args: argparse.Namespace) -> str:
    """poolpipe's train on the file with this checkout's src and another's, alternating."""
    import os
    import subprocess

    out = Path(args.out)
    path = Path(args.file) if args.file else out / f"train_{args.rows}x{args.features}.csv"
    ensure_file(path, args.rows, args.features)
    warm(path)
    here = str(BENCH_DIR.parent / "src")
    times: dict[str, list[float]] = {"before": [], "after": []}
    cpu: dict[str, list[float]] = {"before": [], "after": []}
    loads = []
    for _ in range(args.repeats):
        for label, src in (("before", args.ab), ("after", here)):
            loads.append(os.getloadavg()[0])
            done = subprocess.run(
                [sys.executable, "-c", AB_SCRIPT, src, str(path), str(args.processes)],
                capture_output=True,
                text=True,
                check=True,
            )
            run = json.loads(done.stdout.splitlines()[-1])
            times[label].append(run["s"])
            cpu[label].append(run["cpu"])
            log(f"  {label}: {run['s']:.2f} s, {run['cpu']:.2f} s of CPU")
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    cpu_before, cpu_after = statistics.median(cpu["before"]), statistics.median(cpu["after"])
    return "\n".join(
        [
            f"poolpipe train, {path.name}, {args.processes} processes, {args.repeats} runs each,"
            f" alternating; 1-minute load average {min(loads):.1f} to {max(loads):.1f}"
            f" on {os.cpu_count()} CPUs",
            "",
            "| code | wall (s) | median | CPU, workers included (s) | median |",
            "|---|---|---|---|---|",
            *(
                f"| {label} | {', '.join(f'{t:.2f}' for t in times[label])} |"
                f" {statistics.median(times[label]):.2f} |"
                f" {', '.join(f'{t:.2f}' for t in cpu[label])} |"
                f" {statistics.median(cpu[label]):.2f} |"
                for label in ("before", "after")
            ),
            "",
            f"after / before: wall {after / before:.3f}, CPU {cpu_after / cpu_before:.3f}",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", help="CSV to use (made with --rows and --features if absent)")
    p.add_argument("--rows", type=int, default=5_000_000, help="rows of a made file")
    p.add_argument("--features", type=int, default=20, help="features of a made file")
    p.add_argument("--processes", type=int, default=2, help="poolpipe's worker processes")
    p.add_argument("--repeats", type=int, default=3, help="runs per method (median reported)")
    p.add_argument("--out", default=str(BENCH_DIR / "out"), help="made files and train.json")
    p.add_argument("--digits", action="store_true", help="print the NIST StRD digits table")
    p.add_argument("--ab", metavar="SRC", help="time train against another checkout's src/")
    p.add_argument("--_run", choices=sorted(METHODS), help=argparse.SUPPRESS)
    p.add_argument("--cache", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main() -> int:
    """Entry point: the benchmark, or one method's run when called with --_run."""
    args = parse_args()
    if args._run:
        child_main(args._run, args.file, args.processes, args.cache)
        return 0
    if args.digits:
        print(digits_table(Path(args.out)))
        return 0
    if args.ab:
        print(ab_table(args))
        return 0
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
