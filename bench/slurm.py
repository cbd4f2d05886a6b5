"""Benchmark: N chunk jobs through a real multi-node SLURM three ways, and Snakemake's DAG time.

Run `python bench/slurm.py --help` (as root: without a running SLURM it starts the test
cluster, cluster/start-slurm.sh, and stops it at the end). bench/README.md says what each
column measures; docs/cluster.md fits its model to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml
from harness import QUIET_SHARE, log, wait_until_quiet

from poolpipe.report import describe

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WORKFLOW = ["Snakefile", "rules", "scripts", "config", "envs", "profiles", "report"]
TARGET = "results/sum/numbers/total.json"
RUNNING = re.compile(r"rule sum_chunk \([^)]*\) running: SLURM job (\d+) ")
RUN_LIMIT_S = 7200
STATE = Path("/run/poolpipe-slurm")
CHUNKS_PER_DATASET = 1000
"""The DAG test's datasets: a sheet row may ask for at most 1024 chunks."""


def sh(*cmd: str, timeout: float = 60) -> str:
    """Run a command, return its stdout; fail on error."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout


@dataclass
class SlurmRun:
    """One run of the sum stage through the SLURM profile."""

    mode: str
    chunks: int
    wall_s: float
    sbatch_calls: int
    slurm_jobs: int
    chunk_jobs: int
    chunk_submissions: int
    cpus_per_chunk_job: int
    chunk_phase_s: float
    chunk_job_s: float
    chunk_work_s: float
    nodes_used: int

    @property
    def overhead_per_chunk_s(self) -> float:
        """Job-seconds not spent on the chunks' own work, per chunk."""
        return (self.chunk_job_s - self.chunk_work_s) / self.chunks


def workflow_copy(dest: Path) -> Path:
    """A fresh copy of the workflow's files."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in WORKFLOW:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def sacct_jobs(run_id: str) -> list[dict[str, str]]:
    """The run's SLURM jobs (array tasks one by one): ids, times, elapsed seconds, state."""
    fields = ["JobID", "JobIDRaw", "Submit", "Start", "End", "ElapsedRaw", "State", "NodeList"]
    fields.append("AllocCPUS")
    deadline = time.monotonic() + 120
    while True:
        out = sh(
            "sacct", "-X", "-n", "-P", "--name", run_id, "-S", "now-2days", "-o", ",".join(fields)
        )
        rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
        if all(r["State"] == "COMPLETED" for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def epoch(stamp: str) -> float:
    """Seconds since the epoch of a sacct time stamp (local time)."""
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))


UNGROUPED = ["--config", "group_chunks=False"]
"""Chunk jobs outside any group: the plugin submits a group job, even of one, as a plain job."""
MODES = {
    "one job per chunk": UNGROUPED,
    "group jobs": None,  # filled in from --group
    # every task at once: with fewer job slots than tasks, plugin 2.8 stopped submitting after
    # its second array (200 chunks, `jobs: 100`), and the run waited for ever
    "array jobs": [*UNGROUPED, "--slurm-array-jobs", "sum_chunk", "--jobs", "1100"],
}


def run_slurm(
    work: Path, mode: str, extra: list[str], chunks: int, lines: int, cpus: int
) -> SlurmRun:
    """The sum stage on demo data cut into `chunks` one-thread chunk jobs, through SLURM."""
    workdir = workflow_copy(work / mode.replace(" ", "-"))
    config = {
        "stages": ["sum"],
        "demo": {"seed": 1, "numbers": {"lines": lines, "blank_lines": 0, "bad_lines": 0}},
        "sum": {"chunks": chunks, "threads": 1},
        "timing": {"compare_serial": False},
    }
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    cmd = ["timeout", "-k", "10", str(RUN_LIMIT_S), SNAKEMAKE, TARGET]
    cmd += [
        "--configfile",
        "bench.yaml",
        "--workflow-profile",
        "profiles/slurm",
        "--cores",
        str(cpus),
    ]
    cmd += extra
    log(f"  {mode}: {chunks} chunks ({' '.join(extra)})")
    start = time.perf_counter()
    run = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=RUN_LIMIT_S + 30, check=False
    )
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{run.stderr[-3000:]}")
    return measure(workdir, mode, chunks, wall)


def measure(workdir: Path, mode: str, chunks: int, wall: float) -> SlurmRun:
    """A finished run's figures, from its timing records, logs and sacct."""
    work_s = sum(
        json.loads(p.read_text())["wall_s"]
        for p in (workdir / "results/timing/sum_chunk/numbers").glob("*.json")
    )
    (snakemake_log,) = (workdir / ".snakemake/log").glob("*.snakemake.log")
    run_id = re.search(r"SLURM run ID: (\S+)", snakemake_log.read_text()).group(1)
    jobs = sacct_jobs(run_id)
    by_raw = {r["JobIDRaw"]: r for r in jobs}
    named = [
        m.group(1)
        for p in (workdir / "logs/sum_chunk").rglob("*.log")
        if (m := RUNNING.search(p.read_text()))
    ]
    if len(named) != chunks:
        raise RuntimeError(f"{mode}: {len(named)} chunk logs name a SLURM job, not {chunks}")
    chunk_ids = set(named)  # a group job runs several chunks
    chunk_jobs = [by_raw[i] for i in chunk_ids]
    return SlurmRun(
        mode=mode,
        chunks=chunks,
        wall_s=wall,
        # an array's tasks share the JobID before "_": one sbatch call
        sbatch_calls=len({r["JobID"].split("_")[0] for r in jobs}),
        slurm_jobs=len(jobs),
        chunk_jobs=len(chunk_jobs),
        chunk_submissions=len({j["JobID"].split("_")[0] for j in chunk_jobs}),
        cpus_per_chunk_job=max(int(j["AllocCPUS"]) for j in chunk_jobs),
        chunk_phase_s=max(epoch(j["End"]) for j in chunk_jobs)
        - min(epoch(j["Submit"]) for j in chunk_jobs),
        chunk_job_s=float(sum(int(j["ElapsedRaw"]) for j in chunk_jobs)),
        chunk_work_s=work_s,
        nodes_used=len({j["NodeList"] for j in chunk_jobs}),
    )


@dataclass
class DagRun:
    """Snakemake's dry run (DAG and scheduling, no job run) of the sum stage over N chunks."""

    chunks: int
    datasets: int
    jobs: int
    wall_s: float
    cpu_s: float


def dag_time(work: Path, chunks: int) -> DagRun:
    """`snakemake -n` over `chunks` sum chunk jobs, in datasets of CHUNKS_PER_DATASET."""
    workdir = workflow_copy(work / f"dag-{chunks}")
    datasets = -(-chunks // CHUNKS_PER_DATASET)
    rows = ["name\tstage\tpath\tchunks"]
    for i in range(datasets):
        data = workdir / f"data/n{i}.txt"
        data.parent.mkdir(exist_ok=True)
        data.write_text("1\n")
        size = min(CHUNKS_PER_DATASET, chunks - i * CHUNKS_PER_DATASET)
        rows.append(f"n{i}\tsum\t{data}\t{size}")
    (workdir / "sheet.tsv").write_text("\n".join(rows) + "\n")
    (workdir / "dag.yaml").write_text(yaml.safe_dump({"stages": ["sum"], "datasets": "sheet.tsv"}))
    # --quiet rules: no line per job, but the job counts
    cmd = [SNAKEMAKE, "-n", "--quiet", "rules", "--cores", "1", "--configfile", "dag.yaml"]
    log(f"  dry run over {chunks} chunks ({datasets} datasets)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(
        cmd,
        cwd=workdir,
        env={**os.environ, "SLURM_CONF": "/dev/null"},
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        raise RuntimeError(f"dry run over {chunks} chunks failed:\n{run.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counted = re.search(r"^sum_chunk\s+(\d+)$", run.stdout + run.stderr, re.MULTILINE)
    jobs = int(counted.group(1)) if counted else 0
    log(f"    {jobs} chunk jobs: {wall:.1f} s wall, {cpu:.1f} s CPU")
    return DagRun(chunks, datasets, jobs, wall, cpu)


def slots(run: SlurmRun, nodes: int, cpus: int) -> float:
    """How many of the run's chunk jobs the cluster runs at once."""
    return nodes * cpus / run.cpus_per_chunk_job


TERMS = {
    "submission_s": "chunk submissions",
    "job_chunk_s": "chunks run as jobs of their own (array tasks too) / slots",
    "member_chunk_s": "chunks run as group members / slots",
}
"""The model's terms: a chunk that is a SLURM job (or array task) of its own pays the batch
script's Snakemake and its step's; a group member pays only its step's."""


def terms(run: SlurmRun, nodes: int, cpus: int) -> list[float]:
    """A run's values of the model's terms (TERMS)."""
    per_slot = run.chunks / slots(run, nodes, cpus)
    grouped = run.chunk_jobs < run.chunks
    return [run.chunk_submissions, 0.0 if grouped else per_slot, per_slot if grouped else 0.0]


def fit(runs: list[SlurmRun], nodes: int, cpus: int) -> dict[str, float]:
    """Least squares of the chunk phase over the terms the runs have (TERMS): the seconds per
    unit of each; with as many runs as terms, the exact solution."""
    x = np.array([terms(r, nodes, cpus) for r in runs])
    used = [i for i in range(x.shape[1]) if x[:, i].any()]
    if len(runs) < len(used):
        return {}
    y = np.array([r.chunk_phase_s for r in runs])
    coef, *_ = np.linalg.lstsq(x[:, used], y, rcond=None)
    return {list(TERMS)[i]: float(c) for i, c in zip(used, coef, strict=True)}


def ensure_cluster() -> bool:
    """Start the test cluster unless SLURM answers; whether this call started it."""
    os.environ.setdefault("SLURM_CONF", str(STATE / "etc/slurm.conf"))
    if not (STATE / "etc/slurm.conf").exists() and os.environ["SLURM_CONF"].startswith(str(STATE)):
        answers = False  # no cluster was ever started here: sinfo would wait for its timeout
    else:
        try:
            done = subprocess.run(["sinfo"], capture_output=True, timeout=30, check=False)
            answers = done.returncode == 0
        except subprocess.TimeoutExpired:
            answers = False
    if answers:
        return False
    env = {**os.environ, "POOLPIPE_SLURM_STATE": str(STATE)}
    subprocess.run(
        [str(ROOT / "cluster/start-slurm.sh")], env=env, stdout=sys.stderr, timeout=900, check=True
    )
    return True


def stop_cluster() -> None:
    """Stop the cluster ensure_cluster started."""
    env = {**os.environ, "POOLPIPE_SLURM_STATE": str(STATE)}
    subprocess.run(
        [str(ROOT / "cluster/stop-slurm.sh")], env=env, stdout=sys.stderr, timeout=300, check=False
    )


def print_tables(runs: list[SlurmRun], dags: list[DagRun], nodes: int, cpus: int) -> dict:
    """The two tables and the fitted model; returns the model's figures."""
    if runs:
        print(f"SLURM: {nodes} nodes of {cpus} CPUs; chunk jobs of one thread")
        head = (
            "run",
            "chunks",
            "sbatch calls",
            "of them chunk jobs",
            "SLURM jobs",
            "CPUs per chunk job",
            "nodes used",
            "wall s",
            "chunk phase s",
            "chunk job-s",
            "chunk work s",
            "overhead per chunk s",
        )
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in runs:
            cells = [
                r.mode,
                str(r.chunks),
                str(r.sbatch_calls),
                str(r.chunk_submissions),
                str(r.slurm_jobs),
                str(r.cpus_per_chunk_job),
                str(r.nodes_used),
                f"{r.wall_s:.0f}",
                f"{r.chunk_phase_s:.0f}",
                f"{r.chunk_job_s:.0f}",
                f"{r.chunk_work_s:.1f}",
                f"{r.overhead_per_chunk_s:.2f}",
            ]
            print("| " + " | ".join(cells) + " |")
    model = fit(runs, nodes, cpus) if runs else {}
    if model:
        print(
            "\nfit: chunk phase s = "
            + " + ".join(f"{c:.2f} x {TERMS[k]}" for k, c in model.items())
            + f"\n(slots = {nodes} nodes x {cpus} CPUs / CPUs per chunk job)"
        )
        for r in runs:
            values = dict(zip(TERMS, terms(r, nodes, cpus), strict=True))
            modelled = sum(c * values[k] for k, c in model.items())
            print(f"  {r.mode}: measured {r.chunk_phase_s:.0f} s, model {modelled:.0f} s")
    if dags:
        head = ("chunks", "datasets", "chunk jobs in the DAG", "dry run wall s", "CPU s")
        print("\n| " + " | ".join((*head, "CPU ms per chunk")) + " |")
        print("|---|---|---|---|---|---|")
        for d in dags:
            print(
                f"| {d.chunks} | {d.datasets} | {d.jobs} | {d.wall_s:.1f} | {d.cpu_s:.1f} | "
                f"{1000 * d.cpu_s / d.chunks:.2f} |"
            )
    return model


def report_of(paths: list[str]) -> int:
    """Print the tables of saved benches (their slurm.json), the SLURM runs' and the dry runs'
    of all of them together."""
    runs: list[SlurmRun] = []
    dags: list[DagRun] = []
    nodes = cpus = 0
    for path in paths:
        saved = json.loads(Path(path).read_text())
        for run in saved["runs"]:
            run.pop("overhead_per_chunk_s")
            runs.append(SlurmRun(**run))
        dags += [DagRun(**d) for d in saved["dag"]]
        if saved["runs"]:
            nodes, cpus = saved["nodes"], saved["cpus_per_node"]
        load = ", ".join(f"{x:.1f}" for x in saved["load_avg_after"])
        print(f"{path}: measured {saved['machine']['measured_at']}, load average after {load}")
    print_tables(runs, dags, nodes, cpus)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=1000, help="chunk jobs in the SLURM runs")
    parser.add_argument("--lines", type=int, default=0, help="demo numbers (default 100/chunk)")
    parser.add_argument("--group", type=int, default=50, help="chunks per group job")
    parser.add_argument("--modes", default="one job per chunk,group jobs,array jobs")
    parser.add_argument("--dag", default="10000,100000", help="chunk counts for the dry runs")
    parser.add_argument("--quiet-wait", type=float, default=300, help="most seconds to wait")
    parser.add_argument("--out", default=str(ROOT / "bench/out"))
    parser.add_argument(
        "--report",
        nargs="+",
        metavar="JSON",
        help="print the tables and the fit of finished benches' slurm.json files, run nothing",
    )
    args = parser.parse_args()
    if args.report:
        return report_of(args.report)
    if not 1 <= args.chunks <= 1024:
        parser.error("--chunks must be 1 to 1024 (a dataset's most chunks)")
    if not 1 <= args.group <= args.chunks:
        parser.error("--group must be 1 to --chunks")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown --modes {sorted(unknown)}; choose from {list(MODES)}")
    dag_sizes = [int(n) for n in args.dag.split(",") if n.strip()]
    if any(not 1 <= n <= 1_000_000 for n in dag_sizes):
        parser.error("--dag sizes must be 1 to 1,000,000")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[SlurmRun] = []
    dags: list[DagRun] = []
    quiet: list[float] = []
    nodes = cpus = 0

    def save() -> dict:
        """Write what is measured so far to slurm.json (after each part: a long bench that
        stops keeps its finished parts, and --report reads them)."""
        report = {
            "nodes": nodes,
            "cpus_per_node": cpus,
            "runs": [{**asdict(r), "overhead_per_chunk_s": r.overhead_per_chunk_s} for r in runs],
            "model": fit(runs, nodes, cpus) if runs else {},
            "dag": [asdict(d) for d in dags],
            "busy_share_before": quiet,
            "load_avg_after": os.getloadavg(),
            "machine": asdict(describe()),
        }
        (out / "slurm.json").write_text(json.dumps(report, indent=2) + "\n")
        return report

    started = ensure_cluster() if modes else False
    try:
        if modes:
            listing = sh("sinfo", "-h", "-N", "-o", "%N %c").split()
            nodes, cpus = len(set(listing[0::2])), int(listing[1])
        for mode in modes:
            extra = MODES[mode] or ["--group-components", f"sum_chunks={args.group}"]
            quiet.append(wait_until_quiet(args.quiet_wait))
            lines = args.lines or 100 * args.chunks
            runs.append(run_slurm(out / "slurm-work", mode, extra, args.chunks, lines, cpus))
            save()
    finally:
        if started:
            stop_cluster()
    for n in dag_sizes:
        quiet.append(wait_until_quiet(args.quiet_wait))
        dags.append(dag_time(out / "slurm-work", n))
        save()

    print_tables(runs, dags, nodes, cpus)
    save()
    print(f"\nmachine: {describe().line()}")
    print(
        f"busy share before each part (others, {QUIET_SHARE:.0%} = quiet): "
        + ", ".join(f"{q:.0%}" for q in quiet)
        + (" -- WARNING: the machine was busy" if quiet and max(quiet) > QUIET_SHARE else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
