"""Benchmark: what a SLURM job costs, and N chunk jobs grouped vs ungrouped, on a real cluster.

Run `python bench/slurm.py --help` (as root: without a running SLURM it starts the test
cluster, cluster/start-slurm.sh, and stops what it started at the end). bench/README.md
says what each row measures; docs/scaling.md discusses the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from harness import QUIET_SHARE, log, wait_until_quiet

from poolpipe.report import describe

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
WORKFLOW = ["Snakefile", "rules", "scripts", "config", "envs", "profiles", "report"]
TARGET = "results/sum/numbers/total.json"
RUNNING = re.compile(r"rule sum_chunk \(chunk=\d+\) running: SLURM job (\d+) ")
RUN_LIMIT_S = 1200


def sh(*cmd: str, timeout: float = 60) -> str:
    """Run a command, return its stdout; fail on error."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout


def job_state(job_id: str) -> str:
    """The job's state according to the controller."""
    out = sh("scontrol", "show", "job", "-o", job_id)
    return re.search(r"JobState=(\S+)", out).group(1)


def trivial_sbatch(repeats: int) -> list[float]:
    """Seconds from `sbatch --wrap true` to the controller saying COMPLETED, one job at a time."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        job_id = sh(
            "sbatch",
            "--parsable",
            "-o",
            "/dev/null",
            "-c",
            "1",
            "--mem",
            "16",
            "-t",
            "1",
            "--wrap",
            "true",
        )
        deadline = time.monotonic() + 120
        while job_state(job_id.strip().split(";")[0]) != "COMPLETED":
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id.strip()} did not complete in 120 s")
            time.sleep(0.02)
        seconds.append(time.perf_counter() - start)
    return seconds


def trivial_srun(repeats: int) -> list[float]:
    """Seconds of `srun true` (allocation, step launch, exit), one at a time."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        sh("srun", "-c", "1", "--mem", "16", "-t", "1", "true", timeout=120)
        seconds.append(time.perf_counter() - start)
    return seconds


@dataclass
class WorkflowRun:
    """One run of the sum stage, locally or through the SLURM profile."""

    mode: str
    chunks: int
    group_components: int | None
    wall_s: float
    slurm_jobs: int | None = None
    chunk_slurm_jobs: int | None = None
    chunk_phase_s: float | None = None
    chunk_job_seconds: float | None = None
    chunk_work_s: float = 0.0


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
    """The run's SLURM jobs: id, submit, start, end, elapsed seconds, state."""
    fields = ["JobIDRaw", "Submit", "Start", "End", "ElapsedRaw", "State"]
    deadline = time.monotonic() + 60
    while True:
        out = sh(
            "sacct", "-X", "-n", "-P", "--name", run_id, "-S", "now-1days", "-o", ",".join(fields)
        )
        rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]
        if all(r["State"] == "COMPLETED" for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def epoch(stamp: str) -> float:
    """Seconds since the epoch of a sacct time stamp (local time)."""
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))


def run_workflow(work: Path, chunks: int, lines: int, group: int | None, cpus: int) -> WorkflowRun:
    """The sum stage on demo data cut into `chunks`, locally (group None) or through SLURM."""
    mode = "local" if group is None else f"slurm, {group} per group"
    workdir = workflow_copy(work / ("local" if group is None else f"slurm-group-{group}"))
    config = {
        "demo": {"seed": 1, "numbers": {"lines": lines, "blank_lines": 0, "bad_lines": 0}},
        "sum": {"chunks": chunks, "threads": 1},
        "timing": {"compare_serial": False},
    }
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    cmd = ["timeout", "-k", "10", str(RUN_LIMIT_S), SNAKEMAKE, TARGET, "--configfile", "bench.yaml"]
    if group is None:
        cmd += ["--cores", str(cpus)]
    else:
        cmd += [
            "--profile",
            "profiles/slurm",
            "--cores",
            str(cpus),
            "--group-components",
            f"sum_chunks={group}",
        ]
    log(f"  {mode}: {chunks} chunks")
    start = time.perf_counter()
    run = subprocess.run(
        cmd,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S + 30,
        check=False,
    )
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{run.stderr[-3000:]}")
    work_s = sum(
        json.loads(p.read_text())["wall_s"]
        for p in (workdir / "results/timing/sum_chunk/numbers").glob("*.json")
    )
    result = WorkflowRun(mode, chunks, group, wall, chunk_work_s=work_s)
    if group is None:
        return result
    run_id = re.search(r"SLURM run ID: (\S+)", run.stderr).group(1)
    jobs = {r["JobIDRaw"]: r for r in sacct_jobs(run_id)}
    chunk_ids = {
        m.group(1)
        for p in (workdir / "logs/sum_chunk").glob("*.log")
        if (m := RUNNING.search(p.read_text()))
    }
    chunk_jobs = [jobs[i] for i in chunk_ids]
    result.slurm_jobs = len(jobs)
    result.chunk_slurm_jobs = len(chunk_jobs)
    result.chunk_phase_s = max(epoch(j["End"]) for j in chunk_jobs) - min(
        epoch(j["Submit"]) for j in chunk_jobs
    )
    result.chunk_job_seconds = float(sum(int(j["ElapsedRaw"]) for j in chunk_jobs))
    return result


def ensure_cluster(state: Path) -> bool:
    """Start the test cluster unless SLURM answers; whether this call started daemons."""
    if subprocess.run(["sinfo"], capture_output=True, timeout=30, check=False).returncode == 0:
        return False
    env = {**os.environ, "POOLPIPE_SLURM_STATE": str(state)}
    subprocess.run(
        [str(ROOT / "cluster/start-slurm.sh")], env=env, stdout=sys.stderr, timeout=900, check=True
    )
    return True


def stop_cluster(state: Path) -> None:
    """Stop the daemons ensure_cluster started."""
    env = {**os.environ, "POOLPIPE_SLURM_STATE": str(state)}
    subprocess.run(
        [str(ROOT / "cluster/stop-slurm.sh")], env=env, stdout=sys.stderr, timeout=300, check=False
    )


def summary(values: list[float]) -> str:
    """Median (min-max) of some seconds."""
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10, help="trivial jobs of each kind")
    parser.add_argument("--chunks", type=int, default=32, help="chunk jobs in the workflow runs")
    parser.add_argument("--lines", type=int, default=320_000, help="demo numbers in those runs")
    parser.add_argument("--groups", default="1,8,32", help="group-components values to compare")
    parser.add_argument("--quiet-wait", type=float, default=300, help="most seconds to wait")
    parser.add_argument("--out", default=str(ROOT / "bench/out"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state = out / "slurm-daemons"
    started = ensure_cluster(state)
    try:
        cpus = int(sh("sinfo", "-h", "-o", "%c").split()[0])
        quiet = [wait_until_quiet(args.quiet_wait)]
        log(f"trivial jobs, {args.repeats} of each...")
        sbatch_s = trivial_sbatch(args.repeats)
        srun_s = trivial_srun(args.repeats)
        runs = []
        for group in [None, *(int(g) for g in args.groups.split(","))]:
            quiet.append(wait_until_quiet(args.quiet_wait))
            runs.append(run_workflow(out / "slurm-work", args.chunks, args.lines, group, cpus))
    finally:
        if started:
            stop_cluster(state)

    print(f"SLURM on this machine: {cpus} CPUs, one node")
    print(f"sbatch --wrap true, submit to COMPLETED: {summary(sbatch_s)}")
    print(f"srun true:                               {summary(srun_s)}")
    print()
    head = ("run", "wall s", "SLURM jobs", "chunk jobs", "chunk phase s", "chunk job-s", "work s")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in runs:
        cells = [
            r.mode,
            f"{r.wall_s:.1f}",
            "-" if r.slurm_jobs is None else str(r.slurm_jobs),
            "-" if r.chunk_slurm_jobs is None else str(r.chunk_slurm_jobs),
            "-" if r.chunk_phase_s is None else f"{r.chunk_phase_s:.0f}",
            "-" if r.chunk_job_seconds is None else f"{r.chunk_job_seconds:.0f}",
            f"{r.chunk_work_s:.2f}",
        ]
        print("| " + " | ".join(cells) + " |")
    machine = describe()
    busiest = max(quiet)
    print()
    print(f"machine: {machine.line()}")
    print(
        f"busy share before the runs (others, {QUIET_SHARE:.0%} = quiet): "
        + ", ".join(f"{q:.0%}" for q in quiet)
        + (" -- WARNING: the machine was busy" if busiest > QUIET_SHARE else "")
    )
    report = {
        "cpus": cpus,
        "sbatch_s": sbatch_s,
        "srun_s": srun_s,
        "runs": [asdict(r) for r in runs],
        "busy_share_before": quiet,
        "machine": asdict(machine),
    }
    (out / "slurm.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
