"""Kill the workflow anywhere: every stop ends, after the same command again, in the same results.

Runs a small but complete workflow (every stage, several chunks each) with the documented
command, `make run`, in a fresh copy of the project on its own small tmpfs, once uninterrupted
and then once per point, stopped at a seeded random moment of the uninterrupted run (found
again by the run's progress: after its k-th job started, so many seconds later) by one kind of
stop:

  kill-group   SIGKILL to the whole process group (a closed lid, the OOM killer, a dead node)
  int-group    SIGINT to the whole process group (Ctrl-C in the terminal)
  term-group   SIGTERM to the whole process group (`timeout -k 30`, scancel, a batch time limit),
               and SIGKILL to what is left of it 30 s later, as those send
  kill-job     SIGKILL to one running job's process (a job the OOM killer chose)
  disk-full    the file system fills up while a merge job runs (freed again before the rerun)

After each stop it runs `make run` once more and compares the results with the uninterrupted
run's, clocks aside (timings, benchmarks, the report, supervise's tick counts and measured
bench figures are clocks; every other file under results/ and data/ must match byte for byte).
A manual step is anything more than running the same command again: a rerun that fails, or a
process that outlives the runs. A Snakemake that misses a SIGTERM is ended by the SIGKILL that
follows it, as a batch system sends: the user does nothing, so it is no manual step, and the
table counts such points apart. A leftover is a file anywhere in the run's folder (Snakemake's
own .snakemake/ aside) that the uninterrupted run does not leave (a temporary file, a journal,
a part). Time lost is the stopped run plus the rerun, less one uninterrupted run.

    .venv/bin/python bench/chaos.py --points 100 --seed 1

Needs root (it mounts a tmpfs per point, and unmounts it). It signals only the processes it
started.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from poolpipe.core import read_manifest, read_manifest_identity

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.workflow_helpers import LOCAL_ENV, SMALL, WORKFLOW  # noqa: E402

COPY = [
    *WORKFLOW,
    "Makefile",
    "requirements.lock",
    "pyproject.toml",
    "setup.py",
    "src/poolpipe/sum/_scan.c",
    "src/poolpipe/sum/_scan_line.h",
    "src/poolpipe/train/_csv.c",
    "src/poolpipe/core/localslurm.py",
]
"""The workflow and what `make run`'s setup step looks at (the environment itself is linked)."""
CHAOS = {
    "demo": {
        "numbers": {"lines": 12000},
        "train": {"rows": 6000, "holdout_rows": 600},
        "tasks": {"files": 6, "tasks": 40},
        "crawl": {"pages": 40, "page_bytes": 1000, "latency_ms": 5, "duplicates": 2},
    },
    "sum": {"chunks": 2},
    "train": {"chunks": 2, "compare_full_fit": False},
    "crawl": {"chunks": 2},
    "supervise": {"duration_s": 2},
    "timing": {"compare_serial": False},
    "bench": {"overhead": {"repeats": 1, "tasks": 20, "threads": 2}},
}
"""What the chaos run sets beyond the integration tests' small config: every stage small, two
chunks each (a job's cost here is mostly its start-up, so fewer jobs make every point cheaper)."""
CLOCKS = ("results/timing/", "results/benchmarks/", "results/report/", "results/bench/")
"""Folders of measurements: compared by name only."""
KINDS = ("kill-group", "int-group", "term-group", "kill-job", "disk-full")
MERGES = ("merge_sum", "merge_train", "merge_crawl")
RUN_S = 600.0
"""The longest one run may take before the harness calls it a hang."""
END_S = 120.0
"""The longest a run may take to end after its stop."""
TMPFS = "256m"
TERM_GRACE_S = 30.0
"""How long a SIGTERM may take before the SIGKILL that follows it (SLURM's KillWait default)."""


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def prepare(dest: Path) -> None:
    """A fresh copy of the project in dest, with the small config as its default config.

    The copy shares this checkout's environment (.venv), so its `make run` must find the
    setup step done: otherwise it would install the copy's poolpipe into that environment."""
    for name in COPY:
        src, dst = ROOT / name, dest / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    config = dest / "config/config.yaml"
    merged = _deep_merge(_deep_merge(yaml.safe_load(config.read_text()), SMALL), CHAOS)
    config.write_text(yaml.safe_dump(merged, sort_keys=False))
    stale = subprocess.run(["make", "-q", "setup"], cwd=dest, env=LOCAL_ENV, capture_output=True)
    if stale.returncode != 0:
        sys.exit(f"chaos: run `make setup` in {ROOT} first (its environment is out of date)")


def copy_of(template: Path, dest: Path) -> None:
    """A copy of the prepared folder template in dest (which may exist, empty), times kept."""
    shutil.copytree(template, dest, symlinks=True, dirs_exist_ok=True)


@contextlib.contextmanager
def tmpfs(path: Path) -> Iterator[Path]:
    """A small tmpfs mounted on path for the block (a disk that can be filled)."""
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        else:
            subprocess.run(["umount", "--lazy", str(path)], check=False)
        with contextlib.suppress(OSError):
            path.rmdir()


def start(work: Path, log: Path) -> subprocess.Popen[bytes]:
    """`make run` in work, in a process group of its own (the group a terminal would signal)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            ["make", "run", "CORES=2"],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=LOCAL_ENV,
            start_new_session=True,
        )


def members(pgid: int) -> list[psutil.Process]:
    """The live processes of the process group pgid."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(OSError, psutil.Error):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def jobs(pgid: int, rule: str = "") -> list[psutil.Process]:
    """The group's running job processes (Snakemake's `script:` runs), of rule if given."""
    found = []
    for proc in members(pgid):
        with contextlib.suppress(psutil.Error):
            line = " ".join(proc.cmdline())
            if ".snakemake/scripts/" in line and f".{rule}" in line:
                found.append(proc)
    return found


def wait_run(proc: subprocess.Popen[bytes], limit_s: float) -> bool:
    """Wait for the command to return, as a user at the prompt does; False if it took over
    limit_s (then its group is killed). After Ctrl-C, make returns while Snakemake still stops
    its jobs: the rerun that follows at once must cope with that."""
    try:
        proc.wait(timeout=limit_s)
        return True
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return False


def orphans(groups: list[int], limit_s: float = 30.0) -> int:
    """Processes of these groups still alive limit_s after the last run returned (then killed)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not any(members(g) for g in groups):
            return 0
        time.sleep(0.1)
    left = [proc for group in groups for proc in members(group)]
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    return len(left)


def fill(work: Path) -> Path:
    """Fill the file system work is on, leaving nothing free."""
    filler = work / ".chaos-filler"
    # unbuffered: a write the full disk cuts short leaves no tail behind to fail the close
    with open(filler, "wb", buffering=0) as fh:
        free = os.statvfs(work).f_bavail * os.statvfs(work).f_frsize
        with contextlib.suppress(OSError):
            os.posix_fallocate(fh.fileno(), 0, max(free, 1))
        with contextlib.suppress(OSError):
            while fh.write(b"\0" * 65536):
                pass
    return filler


CLOCK_COLUMNS = frozenset({"elapsed_ms", "start", "runtime_s", "worker"})
"""Columns of result tables that hold clocks (crawl's pages.tsv, tasks' results.tsv)."""
CRAWL_PART_CLOCK = 5
"""A crawl part's row is pages.tsv's row as a JSON list: elapsed_ms is its sixth item."""


def _without_clock_columns(data: bytes) -> bytes:
    lines = data.split(b"\n")
    header = lines[0].decode().split("\t")
    keep = [i for i, name in enumerate(header) if name not in CLOCK_COLUMNS]
    return b"\n".join(b"\t".join(line.split(b"\t")[i] for i in keep) for line in lines if line)


def _normalise(rel: str, data: bytes, path: Path) -> bytes:
    """The file's content with its clocks taken out."""
    if rel.startswith(CLOCKS) or rel.startswith("results/supervise/"):
        return b""  # measurements; supervise's loops tick for a duration, so counts are clocks
    if path.name == "chunks.tsv":
        ident = read_manifest_identity(path)
        chunks = read_manifest(path)
        return repr((chunks, ident and ident.size, ident and ident.fingerprint)).encode()
    if path.name in ("pages.tsv", "results.tsv"):
        return _without_clock_columns(data)
    if rel.startswith("results/crawl/") and path.suffix == ".jsonl":
        rows = [json.loads(line) for line in data.splitlines()]
        return repr(  # a row is a list; the part's first line, its settings, a dict
            [
                row[:CRAWL_PART_CLOCK] + row[CRAWL_PART_CLOCK + 1 :]
                if isinstance(row, list)
                else row
                for row in rows
            ]
        ).encode()
    if rel.startswith("results/crawl/") and path.name == "summary.json":
        summary = json.loads(data)
        summary.pop("timing", None)
        return repr(summary).encode()
    return data


def fingerprint(work: Path) -> dict[str, str]:
    """Every file of the run's folder (but Snakemake's own .snakemake/), each with the digest of
    its clock-free content; logs by name only."""
    out = {}
    for top, dirs, files in os.walk(work):
        if Path(top) == work:
            dirs[:] = [d for d in dirs if d != ".snakemake"]
        for name in files:
            path = Path(top, name)
            rel = path.relative_to(work).as_posix()
            if path.is_symlink():
                continue
            data = b"" if rel.startswith("logs/") else path.read_bytes()
            out[rel] = hashlib.sha256(_normalise(rel, data, path)).hexdigest()
    return dict(sorted(out.items()))


@dataclass
class Outcome:
    kind: str
    landed: bool = False
    identical: bool = False
    manual: int = 0
    leftovers: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    """Processes that outlived a SIGTERM's grace, ended by the SIGKILL that follows it."""
    at: str = ""
    """The moment drawn: jobs started, then seconds."""
    stopped_rc: int | None = None
    lost_s: float = 0.0
    note: str = ""


JOB_START = re.compile(rb"^(local)?rule \w+:$", re.MULTILINE)
"""The line Snakemake prints as it starts a job."""


def started(log: Path, offset: int) -> int:
    """Jobs Snakemake started, by the log from byte offset on."""
    with contextlib.suppress(OSError), log.open("rb") as fh:
        fh.seek(offset)
        return len(JOB_START.findall(fh.read()))
    return 0


@dataclass
class Reference:
    wall_s: float
    files: dict[str, str]
    starts: list[float] = field(default_factory=list)
    """When each job started, seconds from the command's start."""


@dataclass
class Moment:
    """Where in a run a stop lands: after the run's k-th job started, wait_s later (k = 0: from
    the command's start). Drawn as a moment of the uninterrupted run and found again in this
    run by its progress, so a run slower or faster than the reference is still stopped inside."""

    jobs: int
    wait_s: float


def moment(ref: Reference, rng: random.Random) -> Moment:
    """A seeded moment of the uninterrupted run, said as jobs started and a wait after them."""
    at = rng.uniform(0.02, 0.98) * ref.wall_s
    done = [t for t in ref.starts if t <= at]
    return Moment(len(done), at - (done[-1] if done else 0.0))


def reference(base: Path, template: Path) -> Reference:
    """One uninterrupted run in a copy of template, with the moment each job started."""
    work = base / "reference"
    log = base / "reference.log"
    with tmpfs(work):
        copy_of(template, work)
        t0 = time.monotonic()
        proc = start(work, log)
        starts: list[float] = []
        while proc.poll() is None and time.monotonic() - t0 < RUN_S:
            now = started(log, 0)
            starts += [time.monotonic() - t0] * (now - len(starts))
            time.sleep(0.02)
        if not wait_run(proc, RUN_S) or proc.returncode != 0 or orphans([proc.pid]):
            sys.exit(f"chaos: the uninterrupted run failed; see {log}")
        wall = time.monotonic() - t0
        for top in ("results", "data"):
            shutil.copytree(work / top, base / "reference-results" / top, symlinks=True)
        return Reference(wall, fingerprint(work), starts)


def _stop(
    kind: str,
    proc: subprocess.Popen[bytes],
    rng: random.Random,
    at: Moment,
    work: Path,
    forced: list[str],
    log: tuple[Path, int],
) -> bool:
    """Stop the run as kind says, at the moment at (its log being log from an offset); True if
    the stop landed while the run was going. After a SIGTERM, forced gets the names of the
    processes the SIGKILL that follows it ended."""
    if kind == "disk-full":
        rule = rng.choice(MERGES)
        while proc.poll() is None:
            if jobs(proc.pid, rule):
                time.sleep(rng.uniform(0.0, 0.3))
                fill(work)
                return proc.poll() is None
            time.sleep(0.02)
        return False
    while proc.poll() is None and started(*log) < at.jobs:
        time.sleep(0.02)
    deadline = time.monotonic() + at.wait_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if kind == "kill-job":
        while proc.poll() is None:
            running = sorted(jobs(proc.pid), key=lambda p: p.pid)
            if running:
                with contextlib.suppress(psutil.Error):
                    rng.choice(running).send_signal(signal.SIGKILL)
                    return True
            time.sleep(0.02)
        return False
    sig = {"kill-group": signal.SIGKILL, "int-group": signal.SIGINT, "term-group": signal.SIGTERM}
    if proc.poll() is not None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig[kind])
    if kind == "term-group":
        threading.Thread(
            target=kill_after, args=(members(proc.pid), forced), daemon=True, name="kill_after"
        ).start()
    return True


def kill_after(
    procs: list[psutil.Process], forced: list[str], grace_s: float = TERM_GRACE_S
) -> None:
    """SIGKILL what is left of procs after grace_s, as a batch system does after its SIGTERM;
    forced gets the name of each process it ended.

    Snakemake can miss a SIGTERM for good: its handler takes the scheduler's lock, which the
    main thread may hold when the signal lands, and then waits for itself. A user of a batch
    system (or of `timeout -k`) needs to do nothing about it: the SIGKILL ends it, its kernel
    lock goes with it, and the same command runs again. Only `timeout` without -k, or a
    SIGTERM sent by hand, would leave it waiting.
    """
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        forced.append(_name(proc))  # before the kill: the harness may look once it is dead
        try:
            proc.send_signal(signal.SIGKILL)  # psutil checks the pid is still this process
        except psutil.Error:
            forced.pop()


def _name(proc: psutil.Process) -> str:
    """A process as a reader knows it: snakemake, a job's rule, or its program."""
    try:
        line = proc.cmdline()
    except psutil.Error:
        return "?"
    for word in line:
        if ".snakemake/scripts/" in word:
            return f"job {Path(word).name.split('.')[1]}"
    return next(
        (Path(w).name for w in line if "snakemake" in w), Path(line[0]).name if line else "?"
    )


def point(
    base: Path,
    ref: Reference,
    index: int,
    kind: str,
    seed: int,
    keep_logs: bool = False,
    template: Path | None = None,
) -> Outcome:
    """One stop and one rerun of the same command in a copy of template (prepared afresh if
    None), compared with the uninterrupted run."""
    rng = random.Random(f"{seed}:{index}")
    at = moment(ref, rng)
    where = "a merge job" if kind == "disk-full" else f"job {at.jobs}+{at.wait_s:.1f}s"
    outcome = Outcome(kind, at=where)
    work = base / f"p{index}"
    log = base / f"p{index}.log"
    with tmpfs(work):
        if template is None:
            prepare(work)
        else:
            copy_of(template, work)
        t0 = time.monotonic()
        offset = log.stat().st_size if log.exists() else 0
        proc = start(work, log)
        outcome.landed = _stop(kind, proc, rng, at, work, outcome.forced, (log, offset))
        if not wait_run(proc, END_S if outcome.landed else RUN_S):
            outcome.note = "the stopped run did not end"
        outcome.stopped_rc = proc.returncode
        if kind == "disk-full":  # it lands if the full disk failed the run
            outcome.landed = proc.returncode != 0
        groups = [proc.pid]
        (work / ".chaos-filler").unlink(missing_ok=True)
        for attempt in range(2):
            proc = start(work, log)
            groups.append(proc.pid)
            ended = wait_run(proc, RUN_S)
            if ended and proc.returncode == 0:
                break
            outcome.manual += 1
            outcome.note = outcome.note or f"rerun {attempt + 1} exited {proc.returncode}"
        if left := orphans(groups):
            outcome.note += f" {left} processes outlived the runs"
            outcome.manual += 1
        if outcome.forced:  # a batch system's SIGKILL ended them: no step of the user's
            outcome.note += f" SIGKILL after the SIGTERM's grace ended {', '.join(outcome.forced)}"
        outcome.lost_s = time.monotonic() - t0 - ref.wall_s
        files = fingerprint(work)
        outcome.leftovers = sorted(set(files) - set(ref.files))
        outcome.differ = sorted(
            rel for rel, digest in ref.files.items() if files.get(rel) != digest
        )
        outcome.identical = not outcome.differ
        if outcome.differ or outcome.leftovers:
            keep = base / f"p{index}-results"
            for top in ("results", "data"):
                shutil.copytree(work / top, keep / top, dirs_exist_ok=True, symlinks=True)
    if outcome.identical and not outcome.manual and not outcome.leftovers and not keep_logs:
        log.unlink(missing_ok=True)
    return outcome


def table(outcomes: list[Outcome]) -> str:
    """The results, one line per kind of stop and a total."""
    head = (
        "| kind of stop | stops | landed | identical | manual steps | leftover files "
        "| ended by the SIGKILL after SIGTERM | time lost (mean s) |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]

    def line(name: str, rows: list[Outcome]) -> str:
        lost = sum(o.lost_s for o in rows) / len(rows) if rows else 0.0
        return (
            f"| {name} | {len(rows)} | {sum(o.landed for o in rows)} "
            f"| {sum(o.identical for o in rows)} | {sum(o.manual for o in rows)} "
            f"| {sum(len(o.leftovers) for o in rows)} | {sum(bool(o.forced) for o in rows)} "
            f"| {lost:.1f} |"
        )

    for kind in KINDS:
        rows = [o for o in outcomes if o.kind == kind]
        if rows:
            lines.append(line(kind, rows))
    lines.append(line("all", outcomes))
    return "\n".join(lines)


def run(
    points: int,
    seed: int,
    parallel: int,
    report: Callable[[str], None] = print,
    kinds: tuple[str, ...] = KINDS,
    keep: bool = False,
) -> list[Outcome]:
    """Run the reference and `points` stops; return their outcomes."""
    if os.geteuid() != 0:
        sys.exit("chaos: needs root (it mounts a small tmpfs per point)")
    base = Path(tempfile.mkdtemp(prefix="poolpipe-chaos-"))
    template = base / "template"
    prepare(template)  # once: every point starts from the same files, copied
    ref = reference(base, template)
    report(f"uninterrupted run: {ref.wall_s:.1f} s, {len(ref.files)} files")
    outcomes: list[Outcome] = []
    t0 = time.monotonic()

    def one(index: int) -> Outcome:
        kind = kinds[index % len(kinds)]
        outcome = point(base, ref, index, kind, seed, keep_logs=keep, template=template)
        outcomes.append(outcome)
        flags = "identical" if outcome.identical else "DIFFERENT"
        report(
            f"point {index:3d} {outcome.kind:10s} at {outcome.at:12s} landed={outcome.landed!s:5s} "
            f"exit={outcome.stopped_rc} {flags} "
            f"manual={outcome.manual} leftovers={outcome.leftovers} differ={outcome.differ} "
            f"lost={outcome.lost_s:.1f}s "
            f"{outcome.note} ({len(outcomes)}/{points}, {time.monotonic() - t0:.0f} s)"
        )
        if len(outcomes) % 10 == 0 and len(outcomes) < points:
            report(table(outcomes))
        return outcome

    with ThreadPoolExecutor(parallel) as pool:
        ordered = list(pool.map(one, range(points)))
    if all(o.identical and not o.manual and not o.leftovers for o in ordered) and not keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        report(f"logs of the points that failed: {base}")
    return ordered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10, choices=range(1, 10_001), metavar="N")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=1, choices=range(1, 9), metavar="N")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="the kinds of stop, in turn (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="keep every point's log")
    args = parser.parse_args()
    kinds = tuple(args.kinds.split(","))
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kind of stop {sorted(unknown)[0]!r}; choose from {', '.join(KINDS)}")
    outcomes = run(args.points, args.seed, args.parallel, kinds=kinds, keep=args.keep)
    print(table(outcomes))
    print(f"machine load at the end: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    good = all(o.identical and not o.manual and not o.leftovers for o in outcomes)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
