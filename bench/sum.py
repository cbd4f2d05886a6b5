"""Benchmark: summing 1 GB of integers: cat, article's recipe, Python, pandas, pyarrow, poolpipe.

Every method is timed beside `cat FILE > /dev/null` in the same run, run for run, and reported as
a fraction of cat's throughput. Run `python bench/sum.py --help`; bench/README.md says what each
row measures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import CpuMeter, contention_note, log, machine, preload, run_fresh, usage
from sumprofile import lines as profile_lines

BENCH_DIR = Path(__file__).resolve().parent
MIB = 1 << 20
GB = 10**9
DATA_SEED = 1
BYTES_PER_LINE = 11.389
"""Mean line length of the demo numbers (sign half the time, ~9.89 digits, newline)."""

SIZE_TOLERANCE = 0.05
SLOW_METHODS = ("recipe", "python", "pandas")
SLOW_SECONDS = 12.0
"""A slow method stops after its first run if that run took longer than this."""

LABELS = {
    "cat": "cat FILE > /dev/null (I/O ceiling)",
    "recipe": "article's recipe (Pool, readlines)",
    "python": "sum(map(int, f))",
    "pandas": 'pandas read_csv(engine="c"), dtype inferred',
    "pyarrow": "pyarrow.csv.read_csv + compute.sum",
    "poolpipe": "poolpipe sum_file",
    "cli": "poolpipe sum FILE (whole command)",
}
DEFAULT_METHODS = ("cat", "pandas", "pyarrow", "poolpipe", "cli")
"""What a bare run measures (under two minutes on two cores); `--methods all` adds the rest."""
POOL_METHODS = ("poolpipe", "cli")
"""The methods run once per `--processes` count."""
MODULES = {
    "pandas": ("pandas",),
    "pyarrow": ("pyarrow", "pyarrow.compute", "pyarrow.csv"),
    "poolpipe": ("poolpipe.sum",),
}
"""What each method imports, loaded before its clock starts (each run has its own interpreter,
so a method's peak RSS holds only its own modules)."""

FULL_FILE_METHODS = ("python", "pandas", "pyarrow", "poolpipe", "cli")
"""The methods that sum the whole file, whose totals must all agree (file by file)."""

BIG_METHOD = "cli"
"""The method also measured on the big file (--big-mb), beside cat on that file."""
ONE_LINE_GOAL_MS = 60
"""The whole command on a one-line file, at the largest --processes count: its start-up."""
WIDE_PROCESSES = 16
"""The whole command also runs with this many processes on the main file, where the machine has
at least as many CPUs (os.cpu_count())."""


def sum_lines(file_lines: list[str]) -> int:
    """The article's worker, verbatim: add up the lines that parse as integers."""
    total = 0
    for line in file_lines:
        try:  # noqa: SIM105 - the article's code, verbatim
            total += int(line)
        except ValueError:
            pass
    return total


def run_recipe(path: str, processes: int) -> int:
    """The article's main: readlines, cut into cpu_count() chunks, pool.map(sum_lines, chunks)."""
    with open(path) as f:
        lines = f.readlines()
    num_processes = multiprocessing.cpu_count()
    chunk_size = len(lines) // num_processes
    chunks = [lines[i : i + chunk_size] for i in range(0, len(lines), chunk_size)]
    pool = multiprocessing.Pool(num_processes)
    results = pool.map(sum_lines, chunks)
    total = sum(results)
    pool.close()
    pool.join()
    return total


def run_python(path: str, processes: int) -> int:
    """Single process, pure Python: sum(map(int, f)) over the file in text mode."""
    with open(path) as f:
        return sum(map(int, f))


def run_pandas(path: str, processes: int) -> int:
    """pandas read_csv with the C engine, dtype inferred (checked to be int64), summed.

    Passing dtype="int64" gives the same column; one measurement on the 1 GB file had it slower
    (0.084 against 0.15 GB/s; later ones on a busy machine saw no clear difference), so the
    column's dtype is checked after reading instead.
    """
    import pandas as pd

    col = pd.read_csv(path, header=None, names=["n"], engine="c")["n"]
    if col.dtype != "int64":
        raise TypeError(f"pandas inferred {col.dtype}, not int64")
    return int(col.sum())


def run_pyarrow(path: str, processes: int) -> int:
    """pyarrow's multithreaded CSV reader into an int64 column, summed by pyarrow.compute.

    One process; the parsing runs on pyarrow's CPU thread pool (pyarrow.cpu_count() threads).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow.csv import ConvertOptions, ReadOptions, read_csv

    table = read_csv(
        path,
        read_options=ReadOptions(column_names=["n"]),
        convert_options=ConvertOptions(column_types={"n": pa.int64()}),
    )
    return int(pc.sum(table["n"]).as_py())


def run_poolpipe(path: str, processes: int) -> int:
    """poolpipe's sum_file with a pool of `processes` workers."""
    from poolpipe.sum import sum_file

    return sum_file(path, processes)["total"]


def run_cli(path: str, processes: int) -> int:
    """The `poolpipe sum` command as a user runs it: interpreter start, imports, pool, JSON out."""
    command = [str(Path(sys.executable).with_name("poolpipe")), "sum", path]
    done = subprocess.run(
        [*command, "--processes", str(processes)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)["total"]


def run_cat(path: str, processes: int) -> None:
    """cat the file to /dev/null: how fast the bytes can be read at all."""
    with open(os.devnull, "wb") as null:
        subprocess.run(["cat", path], stdout=null, check=True)


METHODS: dict[str, Callable[[str, int], int | None]] = {
    "cat": run_cat,
    "recipe": run_recipe,
    "python": run_python,
    "pandas": run_pandas,
    "pyarrow": run_pyarrow,
    "poolpipe": run_poolpipe,
    "cli": run_cli,
}


def threads_used(method: str) -> int | None:
    """The threads a multithreaded method computes with; None for the others."""
    if method != "pyarrow":
        return None
    import pyarrow as pa

    return pa.cpu_count()


def child_main(method: str, path: str, processes: int) -> None:
    """Run one method once in this (fresh) process; print time, total and peak RSS as JSON."""
    preload(MODULES.get(method, ()))
    start = time.perf_counter()
    total = METHODS[method](path, processes)
    seconds = time.perf_counter() - start
    peak = None if method == "cat" else usage()["peak_kib"]
    threads = threads_used(method)
    print(json.dumps({"total": total, "seconds": seconds, "peak_kib": peak, "threads": threads}))


@dataclass
class Run:
    """One run of a method in its own subprocess."""

    total: int | None
    seconds: float
    peak_kib: int | None
    threads: int | None = None


def run_once(method: str, path: Path, processes: int) -> Run:
    """Run a method in a fresh interpreter and read back what it measured."""
    args = ["--_run", method, "--file", str(path), "--_processes", str(processes)]
    return Run(**run_fresh(method, __file__, *args))


@dataclass
class Row:
    """A table row: a method's median over its runs and its peak memory."""

    method: str
    label: str
    processes: int
    nbytes: int
    seconds: list[float]
    totals: list[int | None]
    peak_rss_mib: float | None
    threads: int | None = None
    cat_seconds: list[float] = field(default_factory=list)
    vs_recipe: float = 0.0
    vs_pandas: float = 0.0
    vs_pyarrow: float = 0.0

    @property
    def median(self) -> float:
        """Median seconds over the runs."""
        return statistics.median(self.seconds)

    @property
    def gbps(self) -> float:
        """Throughput in GB/s (10**9 bytes)."""
        return self.nbytes / self.median / GB

    @property
    def vs_cat(self) -> float:
        """Fraction of cat's throughput: the median over runs of cat's seconds (the run just
        before, on the same file) over this method's."""
        if not self.cat_seconds:
            return 1.0
        return statistics.median(c / s for c, s in zip(self.cat_seconds, self.seconds, strict=True))

    @property
    def procs(self) -> str:
        """The procs column: worker processes, or "N thr" for one process with N threads."""
        return f"{self.threads} thr" if self.threads else str(self.processes)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, with the derived numbers."""
        derived = {"median_seconds": self.median, "gb_per_s": self.gbps, "vs_cat": self.vs_cat}
        return {**asdict(self), **derived}


def measure(method: str, path: Path, processes: int, repeats: int, label: str | None = None) -> Row:
    """Run a method `repeats` times, each run just after a run of cat on the same file (a slow
    method once if its first run is slow)."""
    runs: list[Run] = []
    cats: list[float] = []
    for i in range(repeats):
        if method != "cat":
            cats.append(run_once("cat", path, 1).seconds)
        run = run_once(method, path, processes)
        runs.append(run)
        log(f"  {method} [{processes}] run {i + 1}: {run.seconds:.3f} s, total {run.total}")
        if method in SLOW_METHODS and run.seconds > SLOW_SECONDS:
            break
    return Row(
        method=method,
        label=label or LABELS[method],
        processes=processes,
        nbytes=path.stat().st_size,
        seconds=[r.seconds for r in runs],
        totals=[r.total for r in runs],
        peak_rss_mib=peak_mib(runs),
        threads=runs[0].threads,
        cat_seconds=cats,
    )


def peak_mib(runs: list[Run]) -> float | None:
    """The highest peak RSS over the runs in MiB; None where it is not measured."""
    peaks = [r.peak_kib for r in runs if r.peak_kib is not None]
    return max(peaks) / 1024 if peaks else None


def default_file(out: Path, size_mb: int) -> Path:
    """bench/out/numbers_1g.txt for 1024 MiB, numbers_<N>m.txt otherwise."""
    name = f"{size_mb // 1024}g" if size_mb % 1024 == 0 else f"{size_mb}m"
    return out / f"numbers_{name}.txt"


def ensure_file(path: Path, size_mb: int) -> None:
    """Write the numbers file unless one of about size_mb MiB is there already."""
    target = size_mb * MIB
    if path.exists() and abs(path.stat().st_size - target) <= SIZE_TOLERANCE * target:
        log(f"reusing {path}")
        return
    from poolpipe.sum import write_numbers

    lines = round(target / BYTES_PER_LINE)
    free = shutil.disk_usage(path.parent if path.parent.exists() else Path.cwd()).free
    if free < target + GB:
        raise SystemExit(f"{path}: {size_mb} MiB would leave under 1 GB free ({free:,} bytes free)")
    log(f"writing {path}: {lines:,} lines (~{size_mb} MiB)...")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_numbers(path, lines, seed=DATA_SEED)


def warm(path: Path) -> None:
    """Read the file once so every method finds it in the page cache."""
    with open(path, "rb") as fh:
        while fh.read(16 * MIB):
            pass


def make_slice(path: Path, slice_mb: int, tmp: Path) -> Path:
    """The first slice_mb MiB of the file, cut after a newline, as its own file."""
    with open(path, "rb") as fh:
        data = fh.read(slice_mb * MIB)
    cut = data.rfind(b"\n") + 1
    piece = tmp / f"slice_{slice_mb}m.txt"
    piece.write_bytes(data[:cut] if cut else data)
    return piece


def row_of(rows: list[Row], method: str) -> Row:
    """The (first) row of a method."""
    return next(r for r in rows if r.method == method)


PEERS = ("recipe", "pandas", "pyarrow")
"""The methods every row is also compared with (by throughput), where they were measured."""


def add_ratios(rows: list[Row]) -> None:
    """Fill each row's speed relative to the article's recipe, pandas and pyarrow, by throughput."""
    for peer in PEERS:
        if any(r.method == peer for r in rows):
            base = row_of(rows, peer)
            for row in rows:
                setattr(row, f"vs_{peer}", row.gbps / base.gbps)


def mismatches(rows: list[Row], slice_check: int | None) -> list[str]:
    """Every disagreement between totals: across runs, across methods, and on the slice."""
    problems = []
    for row in rows:
        if len(set(row.totals)) > 1:
            problems.append(f"{row.label}: runs disagree: {row.totals}")
    for nbytes in sorted({r.nbytes for r in rows}):
        full = {
            f"{r.label} [{r.procs}]": r.totals[0]
            for r in rows
            if r.method in FULL_FILE_METHODS and r.nbytes == nbytes
        }
        if len(set(full.values())) > 1:
            problems.append(f"whole file totals disagree ({nbytes:,} bytes): {full}")
    recipes = [r.totals[0] for r in rows if r.method == "recipe"]
    if recipes and recipes[0] != slice_check:
        recipe = recipes[0]
        problems.append(f"slice: article's recipe {recipe} != poolpipe {slice_check}")
    return problems


def table(rows: list[Row]) -> str:
    """The plain-text report table: x cat first, then a column per peer that was measured."""
    w = max(len("method"), *(len(r.label) for r in rows))
    peers = [p for p in PEERS if any(r.method == p for r in rows)]
    head = (
        f"{'method':<{w}} {'procs':>6} {'runs':>4} {'seconds':>8} {'GB/s':>6} "
        f"{'peak RSS MiB':>12} {'x cat':>6}" + "".join(f" {'x ' + p:>9}" for p in peers)
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        rss = "-" if r.peak_rss_mib is None else f"{r.peak_rss_mib:.0f}"
        lines.append(
            f"{r.label:<{w}} {r.procs:>6} {len(r.seconds):>4} {r.median:>8.3f} "
            f"{r.gbps:>6.3f} {rss:>12} {r.vs_cat:>6.3f}"
            + "".join(f" {getattr(r, 'vs_' + p):>9.2f}" for p in peers)
        )
    return "\n".join(lines)


def file_line(what: str, path: Path) -> str:
    """The header line that names a measured file and its size."""
    size = path.stat().st_size
    return f"{what}: {path} ({size:,} bytes = {size / GB:.3f} GB), file in page cache"


def report(paths: list[Path], rows: list[Row], notes: list[str], info: dict[str, Any]) -> str:
    """Header, table and footnotes, as printed."""
    measured = {r.method for r in rows}
    return "\n".join(
        [
            file_line("file", paths[0]),
            *(file_line(f"big file (rows marked {big_mark(p)})", p) for p in paths[1:]),
            "",
            table(rows),
            "",
            "seconds: median of the runs, each in a fresh subprocess, timed around the call"
            " (interpreter start and imports excluded, except for the whole command, which is"
            " timed around its subprocess)",
            "x cat: fraction of cat's throughput, the median over runs of (cat's seconds in the"
            " run just before it, on the same file) / (the method's seconds); 1/3 means a third"
            " of the I/O ceiling",
            "procs: worker processes; N thr: one process computing on N threads"
            " (pyarrow's CPU thread pool, pyarrow.cpu_count())",
            "peak RSS: max(ru_maxrss of the subprocess, of its largest child), highest over the"
            " runs; not measured for cat; GB = 10**9 bytes",
            *slow_note(measured),
            *notes,
            info["line"],
        ]
    )


def slow_note(measured: set[str]) -> list[str]:
    """The footnote on slow methods that ran once, where any was measured."""
    slow = [LABELS[m] for m in SLOW_METHODS if m in measured]
    if not slow:
        return []
    return [f"runs: {'; '.join(slow)} stop after one run when it takes over {SLOW_SECONDS:.0f} s"]


def slice_note(recipe: Row, total_bytes: int) -> str:
    """Why and how the article's recipe ran on a slice only."""
    if recipe.nbytes >= total_bytes:
        return "article's recipe: on the whole file"
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    times = (recipe.peak_rss_mib or 0) * MIB / recipe.nbytes
    return (
        f"article's recipe: on the first {recipe.nbytes:,} bytes only, as their own file; its"
        f" largest process peaked at {times:.0f}x its input, so the whole file would need"
        f" {times * total_bytes / 2**30:.1f} GiB in that process alone, more with the others"
        f" (RAM: {ram / 2**30:.0f} GiB); its GB/s compares, its seconds do not"
    )


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes, as /proc/loadavg gives them."""
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def prepare(args: argparse.Namespace, out: Path) -> Path:
    """The numbers file, made if need be, in the page cache."""
    path = Path(args.file) if args.file else default_file(out, args.size_mb)
    if not path.exists() or not args.file:
        ensure_file(path, args.size_mb)
    log(f"warming the page cache with {path}...")
    warm(path)
    compile_bytecode()
    return path


def prepare_big(args: argparse.Namespace, out: Path) -> Path | None:
    """The big file (--big-mb; 0 for none), made if need be; warmed just before its rows."""
    if not args.big_mb:
        return None
    path = Path(args.big_file) if args.big_file else default_file(out, args.big_mb)
    if not path.exists() or not args.big_file:
        ensure_file(path, args.big_mb)
    return path


def compile_bytecode() -> None:
    """Compile poolpipe's modules, as an install does, so the whole command is timed as a user
    runs it and not with a compile of every module (PYTHONDONTWRITEBYTECODE would force one)."""
    import compileall

    import poolpipe

    compileall.compile_dir(Path(poolpipe.__file__).parent, quiet=1)


def big_mark(path: Path) -> str:
    """How the table marks the rows of the big file: its size in GB."""
    return f"[{path.stat().st_size / GB:.1f} GB file]"


def wide_rows(args: argparse.Namespace, path: Path) -> tuple[list[Row], str]:
    """The whole command at WIDE_PROCESSES processes, where the machine has the CPUs; and a
    line that says whether it ran."""
    cpus = os.cpu_count() or 1
    if cpus < WIDE_PROCESSES or BIG_METHOD not in args.methods:
        why = f"os.cpu_count() is {cpus}" if cpus < WIDE_PROCESSES else "cli not measured"
        return [], f"{WIDE_PROCESSES}-process row: skipped ({why}; it needs {WIDE_PROCESSES}+)"
    row = measure(BIG_METHOD, path, WIDE_PROCESSES, args.repeats)
    return [row], f"{WIDE_PROCESSES}-process row: measured ({cpus} CPUs)"


def big_rows(args: argparse.Namespace, big: Path | None) -> list[Row]:
    """cat and the whole command on the big file, at the largest --processes count."""
    if big is None or BIG_METHOD not in args.methods:
        return []
    mark = big_mark(big)
    return [
        measure("cat", big, 1, args.repeats, f"{LABELS['cat']} {mark}"),
        measure(BIG_METHOD, big, args.processes[-1], args.repeats, f"{LABELS[BIG_METHOD]} {mark}"),
    ]


def one_line_rows(args: argparse.Namespace, out: Path) -> tuple[list[Row], str]:
    """The whole command on a one-line file (its start-up, all of it) and a line on the goal."""
    if BIG_METHOD not in args.methods:
        return [], "one-line file: not measured (cli not measured)"
    path = out / "one_line.txt"
    path.write_text("12345\n")
    label = f"{LABELS[BIG_METHOD]} [one line]"
    runs = 2 * args.repeats + 1  # each takes tens of milliseconds: more runs, a steadier median
    row = measure(BIG_METHOD, path, args.processes[-1], runs, label)
    ms = 1000 * row.median
    verdict = "met" if ms <= ONE_LINE_GOAL_MS else "not met"
    return [row], (
        f"one-line file: the whole command at {row.processes} processes took {ms:.0f} ms (median"
        f" of {runs}; goal at most {ONE_LINE_GOAL_MS} ms: {verdict})"
    )


def measure_all(args: argparse.Namespace, path: Path, piece: Path) -> list[Row]:
    """Every method's row on the main file, in table order."""
    recipe_label = f"{LABELS['recipe']} [on a {piece.stat().st_size / MIB:.0f} MiB slice]"
    rows = []
    for method in METHODS:
        if method not in args.methods:
            continue
        if method == "recipe":
            cores = multiprocessing.cpu_count()
            rows.append(measure("recipe", piece, cores, args.repeats, recipe_label))
        elif method in POOL_METHODS:
            rows += [measure(method, path, n, args.repeats) for n in args.processes]
        else:
            rows.append(measure(method, path, 1, args.repeats))
    return rows


def bench(args: argparse.Namespace) -> int:
    """Run every method on the file and print the table; 1 if any totals disagree."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = prepare(args, out)
    big = prepare_big(args, out)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        piece = make_slice(path, args.recipe_slice_mb, Path(tmp))
        log("measuring...")
        load_before = load_average()
        meter = CpuMeter()
        rows = measure_all(args, path, piece)
        wide, wide_line = wide_rows(args, path)
        log(wide_line)
        rows += wide
        if big is not None:
            warm(big)
        rows += big_rows(args, big)
        tiny, tiny_line = one_line_rows(args, out)
        log(tiny_line)
        rows += tiny
        others = meter.others_share()
        load_after = load_average()
        slice_check = run_once("poolpipe", piece, args.processes[-1]).total
        log("profiling...")
        found = run_fresh(
            "profile",
            str(BENCH_DIR / "sumprofile.py"),
            str(path),
            *("--processes", str(args.processes[-1]), "--repeats", str(args.repeats)),
        )
    add_ratios(rows)
    info = machine("pandas", "pyarrow")
    recipes = [r for r in rows if r.method == "recipe"]
    notes = [
        *(slice_note(recipe, path.stat().st_size) for recipe in recipes),
        wide_line,
        tiny_line,
        contention_note(others),
        f"load average (1, 5, 15 min, /proc/loadavg): {load_before} before, {load_after} after",
        *profile_lines(found),
    ]
    print(report([path] + ([big] if big else []), rows, notes, info))
    problems = mismatches(rows, slice_check)
    result = {
        "file": str(path),
        "bytes": path.stat().st_size,
        "big_file": str(big) if big else None,
        "slice_bytes": recipes[0].nbytes if recipes else None,
        "slice_poolpipe_total": slice_check,
        "machine": info,
        "notes": notes,
        "rows": [r.to_json() for r in rows],
        "mismatches": problems,
        "profile": found,
    }
    (out / "sum.json").write_text(json.dumps(result, indent=2) + "\n")
    for problem in problems:
        print(f"MISMATCH: {problem}")
        log(f"MISMATCH: {problem}")
    return 1 if problems else 0


def counts(text: str) -> list[int]:
    """--processes: one count or a comma-separated list of them, each at least 1."""
    try:
        values = sorted({int(v) for v in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of process counts") from None
    if values[0] < 1:
        raise argparse.ArgumentTypeError("process counts must be at least 1")
    return values


def methods(text: str) -> list[str]:
    """--methods: names from METHODS, comma-separated, or all; cat is always run."""
    names = list(METHODS) if text == "all" else text.split(",")
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown methods {unknown}; known: {sorted(METHODS)}")
    return ["cat", *(n for n in names if n != "cat")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", help="numbers file to use (made with --size-mb if absent)")
    p.add_argument("--size-mb", type=int, default=1024, help="size of a made file, MiB")
    p.add_argument(
        "--big-mb",
        type=int,
        default=4096,
        help="also time cat and the whole command (at the largest --processes) on a file this"
        " big, MiB (0: no such rows)",
    )
    p.add_argument("--big-file", help="the big file to use (made with --big-mb if absent)")
    p.add_argument(
        "--processes",
        type=counts,
        default=[1, 2],
        help="poolpipe's worker processes, one row each: N or N,M,... (default: 1,2)",
    )
    p.add_argument(
        "--methods",
        type=methods,
        default=list(DEFAULT_METHODS),
        help=f"methods to run, comma-separated, or all (default: {','.join(DEFAULT_METHODS)})",
    )
    p.add_argument("--recipe-slice-mb", type=int, default=100, help="article's recipe's slice, MiB")
    p.add_argument("--repeats", type=int, default=3, help="runs per method (median reported)")
    p.add_argument("--out", default=str(BENCH_DIR / "out"), help="made files and sum.json")
    p.add_argument("--_run", choices=sorted(METHODS), help=argparse.SUPPRESS)
    p.add_argument("--_processes", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main() -> int:
    """Entry point: the benchmark, or one method's run when called with --_run."""
    args = parse_args()
    if args._run:
        child_main(args._run, args.file, args._processes)
        return 0
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
