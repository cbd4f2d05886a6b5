"""A real multi-node SLURM cluster: the whole workflow through `--workflow-profile profiles/slurm`.

cluster/start-slurm.sh installs Debian's packages and brings up three compute nodes (each a
slurmd in its own network and UTS namespace) with slurmctld, slurmdbd, MariaDB and munged
on the host; the fixture stops it with cluster/stop-slurm.sh, whatever the tests did, unless
the cluster was already up. Run alone with `make test-slurm`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from poolpipe.core.timing import read_record

from ..workflow_helpers import LOCAL_ENV, ROOT, SMALL, SNAKEMAKE, workflow_copy

pytestmark = pytest.mark.slurm

CLUSTER = ROOT / "cluster"
RUN_LIMIT_S = 1200
SUM_TARGET = "results/sum/numbers/total.json"
"""The fault test's target: the sum stage is enough to kill one of its chunk jobs."""
TIMING_DIRS = {"timing", "benchmarks", "report", "bench"}
"""Folders of results/ that hold measured times, which differ from run to run by nature."""
RUNNING = re.compile(r"(rule \S+(?: \([^)]*\))?) running: SLURM job (\d+) on \S+, (\d+) CPUs")
ACTIVE = {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED"}


STATE = Path("/run/poolpipe-slurm")
"""cluster/start-slurm.sh's state directory (its default): configuration, PID files, logs."""


@dataclass(frozen=True)
class Cluster:
    """The running test cluster."""

    cpus: int
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class SlurmJob:
    """One SLURM job as sacct records it."""

    job_id: str
    name: str
    state: str
    cpus: int
    mem_mb: int
    node: str


def _check_can_run() -> None:
    why = None
    if os.geteuid() != 0:
        why = "bringing up SLURM needs root (it installs packages and starts system daemons)"
    elif not (shutil.which("apt-get") or shutil.which("slurmctld")):
        why = "bringing up SLURM needs Debian's apt-get (or SLURM installed)"
    if why and os.environ.get("CI"):
        pytest.fail(f"{why}, and CI must run the SLURM test")
    if why:
        pytest.skip(why)


def _cancel_jobs_under(root: Path) -> None:
    """Cancel every SLURM job still queued or running whose working directory is under root."""
    listing = subprocess.run(
        ["squeue", "-h", "-o", "%i|%Z"], capture_output=True, text=True, timeout=30, check=False
    )
    ours = [
        job
        for job, _, workdir in (line.partition("|") for line in listing.stdout.splitlines())
        if Path(workdir).is_relative_to(root)
    ]
    if ours:
        subprocess.run(["scancel", *ours], timeout=30, check=False)


def _cluster_script(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLUSTER / name)],
        env={**os.environ, "POOLPIPE_SLURM_STATE": str(STATE)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def start_cluster() -> None:
    """Bring the cluster up, or back up: start-slurm.sh starts only what does not run."""
    start = _cluster_script("start-slurm.sh")
    assert start.returncode == 0, start.stdout[-3000:] + start.stderr[-3000:]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running three-node SLURM; afterwards it is stopped unless it was up before."""
    _check_can_run()
    was_up = (STATE / "etc/slurm.conf").exists()
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(STATE / "etc/slurm.conf")
    try:
        start_cluster()
        nodes = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %c"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        yield Cluster(cpus=int(nodes[1]), nodes=tuple(sorted(set(nodes[0::2]))))
    finally:
        _cancel_jobs_under(tmp_path_factory.getbasetemp())
        if not was_up:
            stop = _cluster_script("stop-slurm.sh")
            assert stop.returncode == 0, stop.stdout + stop.stderr
            assert not STATE.exists()
            assert not [n for n in _namespaces() if n.startswith("pp-node")]
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


def _namespaces() -> list[str]:
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=30, check=True
    )
    return [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]


def slurm_command(workdir: Path, cluster: Cluster, config: dict, *args: str) -> list[str]:
    """The snakemake command that runs the workflow through the SLURM profile, time-limited."""
    (workdir / "test.yaml").write_text(yaml.safe_dump(config))
    return [
        "timeout",
        "-k",
        "10",
        str(RUN_LIMIT_S),
        SNAKEMAKE,
        *args,
        "--workflow-profile",
        "profiles/slurm",
        "--cores",
        str(cluster.cpus),
        "--configfile",
        "test.yaml",
    ]


def slurm_snakemake(
    workdir: Path, cluster: Cluster, config: dict, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run the workflow through SLURM; `timeout -k` because a stuck snakemake ignores SIGTERM."""
    return subprocess.run(
        slurm_command(workdir, cluster, config, *args),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S + 30,
        check=False,
    )


def sacct(*job_ids: str, name: str | None = None) -> list[SlurmJob]:
    """The jobs' sacct records, once none of them is still active (bounded wait)."""
    select = ["--name", name, "--starttime", "now-1days"] if name else ["-j", ",".join(job_ids)]
    deadline = time.monotonic() + 60
    while True:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", SACCT_FIELDS, *select],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        jobs = [_sacct_row(line) for line in out.splitlines() if line.strip()]
        if not any(job.state in ACTIVE for job in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


SACCT_FIELDS = "JobIDRaw,JobName,State,AllocCPUS,ReqMem,NodeList"


def _sacct_row(line: str) -> SlurmJob:
    job_id, name, state, cpus, mem, node = line.split("|")
    size, unit = re.fullmatch(r"([\d.]+)([KMGT])[nc]?", mem).groups()
    mem_mb = round(float(size) * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1 << 20}[unit])
    return SlurmJob(job_id, name, state.split()[0], int(cpus), mem_mb, node)


def jobs_in_logs(workdir: Path) -> dict[str, tuple[str, int]]:
    """Each job's name ('rule sum_chunk (chunk=0)') -> the SLURM job and CPUs its log names."""
    found = {}
    for log in sorted((workdir / "logs").rglob("*.log")):
        match = RUNNING.search(log.read_text(errors="replace"))
        assert match, f"{log.relative_to(workdir)} names no SLURM job"
        found[match.group(1)] = (match.group(2), int(match.group(3)))
    return found


def record_job(path: Path) -> tuple[str, object]:
    """A timing record's job name, as jobs_in_logs spells it, and the record."""
    record = read_record(path)
    parts = path.with_suffix("").parts
    where = parts[parts.index("timing") + 1 :]
    wildcards = [f"dataset={where[1]}"] if len(where) > 1 else []
    if record.chunk is not None:
        wildcards.append(f"chunk={record.chunk}")
    name = f"rule {record.rule}" + (f" ({', '.join(wildcards)})" if wildcards else "")
    return name, record


def _without_mtime(rows: list[list[str]]) -> list[list[str]]:
    """A chunk manifest less its input's modification time (the input is made anew per run)."""
    column = rows[0].index("mtime_ns")
    return [row[:column] + row[column + 1 :] for row in rows]


MEASURED_COLUMNS = {
    "results.tsv": {"start", "runtime_s", "worker"},
    "status.tsv": {"pid", "heartbeat_age_s"},
}
"""Columns of TSV results that hold clocks, process ids or which worker took a task."""


def _without_columns(path: Path, names: set[str]) -> bytes:
    """A TSV file's bytes less the named columns."""
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name not in names]
    return "\n".join("\t".join(row[i] for i in keep) for row in rows).encode()


def stable_bytes(rel: Path, path: Path) -> bytes:
    """A result's bytes less what is measured by nature: latencies, clocks, process ids."""
    if rel.name in MEASURED_COLUMNS:
        return _without_columns(path, MEASURED_COLUMNS[rel.name])
    if rel.name == "chunks.tsv":
        manifest = [line.split("\t") for line in path.read_text().splitlines()]
        return repr(_without_mtime(manifest)).encode()
    if rel.parts[:2] != ("results", "crawl"):
        return path.read_bytes()
    if rel.name == "summary.json":
        summary = json.loads(path.read_text())
        summary.pop("timing", None)
        return json.dumps(summary, sort_keys=True).encode()
    if rel.name == "pages.tsv":
        rows = [line.split("\t") for line in path.read_text().splitlines()]
        column = rows[0].index("elapsed_ms")
        return "\n".join("\t".join(r[:column] + r[column + 1 :]) for r in rows).encode()
    if rel.parent.name == "parts":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        # a row is a list; the part's first line, the settings it was crawled with, a dict
        return json.dumps([r[:5] + r[6:] if isinstance(r, list) else r for r in rows]).encode()
    return path.read_bytes()


def result_digests(workdir: Path) -> dict[str, str]:
    """sha256 of every file under data/ and results/, measured times aside."""
    digests = {}
    for top in ("data", "results"):
        for path in sorted((workdir / top).rglob("*")):
            rel = path.relative_to(workdir)
            if path.is_file() and not (top == "results" and rel.parts[1] in TIMING_DIRS):
                digests[str(rel)] = hashlib.sha256(stable_bytes(rel, path)).hexdigest()
    return digests


SLURM_SMALL = {**SMALL, "sum": {**SMALL["sum"], "threads": 1}}
"""The small config with one-thread sum chunks: grouped two to a SLURM job, run one after the
other, the group job must ask SLURM for one CPU, not for the two of both members."""


class LocalRun:
    """A local snakemake run in the background, so that it overlaps the SLURM run it is
    compared with (which mostly waits for SLURM); result() waits for it."""

    def __init__(self, workdir: Path, config: dict, *args: str) -> None:
        self.workdir = workdir
        (workdir / "local.yaml").write_text(yaml.safe_dump(config))
        self.log = workdir.with_name(workdir.name + ".log")
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [SNAKEMAKE, "--cores", "2", *args, "--configfile", "local.yaml"],
                cwd=workdir,
                env=LOCAL_ENV,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def result(self) -> Path:
        """The run's working directory, once it succeeded."""
        try:
            code = self.proc.wait(timeout=RUN_LIMIT_S)
        finally:
            self.stop()
        assert code == 0, self.log.read_text()[-3000:]
        return self.workdir

    def stop(self) -> None:
        """End the run and its jobs if it still runs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def digests(self) -> dict[str, str]:
        return result_digests(self.result())


@pytest.fixture(scope="module")
def slurm_and_local_run(cluster, tmp_path_factory):
    """SLURM_SMALL through SLURM, chunk jobs grouped two to a SLURM job, and locally."""
    local = LocalRun(workflow_copy(tmp_path_factory.mktemp("local-run")), SLURM_SMALL)
    try:
        workdir = workflow_copy(tmp_path_factory.mktemp("slurm-run"))
        run = slurm_snakemake(workdir, cluster, SLURM_SMALL, "--group-components", "sum_chunks=2")
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        run_id = re.search(r"SLURM run ID: (\S+)", run.stderr).group(1)
        return (workdir, run, run_id), local.result()
    finally:
        local.stop()


@pytest.fixture(scope="module")
def slurm_run(slurm_and_local_run):
    """The SLURM run's working directory, its snakemake, its SLURM run id."""
    return slurm_and_local_run[0]


@pytest.fixture(scope="module")
def local_run(slurm_and_local_run):
    """The same config run locally, for comparison."""
    return slurm_and_local_run[1]


def planned_jobs(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table: rule -> number of jobs."""
    table = output[output.index("Job stats:") :].split("\n\n")[0]
    rows = (line.split() for line in table.splitlines()[3:])
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[0] != "total"}


def test_every_job_ran_as_a_slurm_job_that_completed(slurm_run):
    workdir, run, run_id = slurm_run
    logged = jobs_in_logs(workdir)
    planned = planned_jobs(run.stderr)
    assert len(logged) == sum(planned.values()) - planned["all"]
    records = dict(record_job(p) for p in (workdir / "results/timing").rglob("*.json"))
    assert set(records) <= set(logged)
    # every SLURM job read the Snakefile again, and still carries the submitting run's id
    assert len({record.run_id for record in records.values()}) == 1
    ran = {job.job_id: job for job in sacct(name=run_id)}
    assert {job_id for job_id, _ in logged.values()} == set(ran)
    assert {job.state for job in ran.values()} == {"COMPLETED"}
    assert all(job.name == run_id for job in ran.values())


def test_chunk_jobs_ran_on_several_nodes(slurm_run, cluster):
    workdir, _, _ = slurm_run
    chunk_jobs = {job_id for name, (job_id, _) in jobs_in_logs(workdir).items() if "_chunk" in name}
    nodes = {job.node for job in sacct(*chunk_jobs)}
    assert len(nodes) >= 2, nodes
    assert nodes <= set(cluster.nodes)


def test_chunk_jobs_are_grouped(slurm_run):
    workdir, _, _ = slurm_run
    chunks = {job_id for name, (job_id, _) in jobs_in_logs(workdir).items() if "sum_chunk" in name}
    assert len(chunks) == -(-SLURM_SMALL["sum"]["chunks"] // 2)


def test_threads_reach_the_job_and_its_pool_uses_exactly_the_grant(slurm_run, cluster):
    workdir, _, _ = slurm_run
    logged = jobs_in_logs(workdir)
    allocated = {job.job_id: job.cpus for job in sacct(*{j for j, _ in logged.values()})}
    for name, (job_id, cpus) in logged.items():
        assert allocated[job_id] == cpus, f"{name}: SLURM allocated {allocated[job_id]}"
    threads = min(SLURM_SMALL["sum"]["threads"], cluster.cpus)
    for path in (workdir / "results/timing/sum_chunk/numbers").glob("*.json"):
        name, record = record_job(path)
        job_id, cpus = logged[name]
        assert record.processes == threads == cpus == allocated[job_id], name


def test_results_are_byte_identical_to_a_local_run(slurm_run, local_run):
    workdir, _, _ = slurm_run
    slurm, local = result_digests(workdir), result_digests(local_run)
    assert "results/sum/numbers/total.json" in slurm
    assert slurm == local


def test_a_second_run_through_slurm_has_nothing_to_do(slurm_run, cluster):
    workdir, _, _ = slurm_run
    again = slurm_snakemake(workdir, cluster, SLURM_SMALL)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert "has been submitted" not in again.stdout + again.stderr


def write_slow_numbers(path: Path, digits: int = 3_000_000, small: int = 200_000) -> None:
    """Two huge integers that cancel (seconds of exact parsing each), then many small ones."""
    with path.open("w") as fh:
        fh.write("7" * digits + "\n-" + "7" * digits + "\n")
        fh.writelines(f"{(i * 7919) % 100_003 - 50_000}\n" for i in range(small))


def wait_for_slurm_job(log: Path, proc: subprocess.Popen, seen: set[str]) -> str:
    """The SLURM job id a chunk's log names once its script runs, other than those seen."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        match = RUNNING.search(log.read_text(errors="replace")) if log.exists() else None
        if match and match.group(2) not in seen:
            return match.group(2)
        assert proc.poll() is None, "snakemake ended before the chunk job ran"
        time.sleep(0.2)
    raise AssertionError(f"no new SLURM job started {log}")


@dataclass
class SlowSum:
    """Only the sum stage, on a file whose first chunks take seconds each, one chunk per node,
    and its local run (in the background) for the fault tests to compare with."""

    config: dict
    local: LocalRun


@pytest.fixture(scope="module")
def slow_sum(cluster, tmp_path_factory):
    where = tmp_path_factory.mktemp("slow-sum")
    slow = where / "slow.txt"
    write_slow_numbers(slow)
    sheet = where / "slow.tsv"
    sheet.write_text(f"name\tstage\tpath\nnumbers\tsum\t{slow}\n")
    config = {
        **SMALL,
        "stages": ["sum"],
        "datasets": str(sheet),
        "sum": {"chunks": len(cluster.nodes), "threads": 2},
        "timing": {"compare_serial": False},
    }
    local = LocalRun(workflow_copy(where / "local"), config)
    try:
        yield SlowSum(config, local)
    finally:
        local.stop()


def test_a_cancelled_chunk_job_fails_the_run_and_rerun_incomplete_finishes(
    cluster, slow_sum, tmp_path
):
    workdir = workflow_copy(tmp_path / "wf")
    config = slow_sum.config
    cmd = slurm_command(
        workdir,
        cluster,
        config,
        SUM_TARGET,
        "--retries",
        "1",
        "--group-components",
        "sum_chunks=1",
        "--slurm-init-seconds-before-status-checks",
        "2",
    )
    log = workdir / "logs/sum_chunk/numbers/0.log"
    part = workdir / "results/sum/numbers/parts/0.json"
    with (tmp_path / "run.log").open("w+") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            cancelled: list[str] = []
            for _attempt in (1, 2):
                job_id = wait_for_slurm_job(log, proc, set(cancelled))
                time.sleep(1)
                assert not part.exists()
                subprocess.run(["scancel", job_id], timeout=30, check=True)
                cancelled.append(job_id)
            code = proc.wait(timeout=RUN_LIMIT_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        out.seek(0)
        output = out.read()

    assert code not in (0, 124, 137), output[-3000:]
    assert re.search(
        r"Error in group sum_chunks.*?rule sum_chunk:.*?output: results/sum/numbers/parts/0\.json",
        output,
        re.DOTALL,
    ), output[-3000:]
    first, second = sacct(*cancelled)
    assert (first.state, second.state) == ("CANCELLED", "CANCELLED")
    assert second.mem_mb == 2 * first.mem_mb
    assert not part.exists()
    assert not (workdir / "results/sum/numbers/total.json").exists()
    assert not [p for p in (workdir / "results").rglob("*") if p.name.endswith(".tmp")]

    rerun = slurm_snakemake(workdir, cluster, config, SUM_TARGET, "--rerun-incomplete")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # the local run made the whole default target, of which this run's files are a part
    rerun_digests, uninterrupted = result_digests(workdir), slow_sum.local.digests()
    assert SUM_TARGET in rerun_digests
    assert rerun_digests == {name: uninterrupted.get(name) for name in rerun_digests}


def kill_node(node: str) -> None:
    """Kill every process of a node's network namespace: its slurmd, job steps and their
    children, as if the machine had died."""
    pids = subprocess.run(
        ["ip", "netns", "pids", node], capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    assert pids, f"node {node} runs no process"
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def test_a_node_that_dies_mid_run_costs_only_its_jobs(cluster, slow_sum, tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    config = slow_sum.config
    cmd = slurm_command(
        workdir,
        cluster,
        config,
        "--group-components",
        "sum_chunks=1",
        "--slurm-init-seconds-before-status-checks",
        "2",
    )
    log = workdir / "logs/sum_chunk/numbers/0.log"
    with (tmp_path / "run.log").open("w+") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            lost = wait_for_slurm_job(log, proc, set())
            node = subprocess.run(
                ["squeue", "-h", "-j", lost, "-o", "%N"],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout.strip()
            assert node in cluster.nodes
            kill_node(node)
            code = proc.wait(timeout=RUN_LIMIT_S)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            start_cluster()
        out.seek(0)
        output = out.read()

    assert code == 0, output[-3000:]
    (job,) = sacct(lost)
    assert (job.state, job.node) == ("NODE_FAIL", node)
    with (workdir / "results/report/timings.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["rule"] == "sum_chunk"]
    retried = next(r for r in rows if r["chunk"] == "0")
    assert retried["attempt"] == "2"
    assert retried["host"] in set(cluster.nodes) - {node}
    assert retried["slurm_job_id"] != lost
    assert {r["attempt"] for r in rows if r["chunk"] != "0"} == {"1"}
    assert result_digests(workdir) == slow_sum.local.digests()


PART = "results/sum/numbers/parts/0.json"
"""The memory test's target: one chunk job, no merge (whose memory the profile sets)."""
FIRST_ATTEMPT_MB = 160
"""A sum chunk job's first --mem in the memory test: below what its two Snakemake processes
(the job's and its step's) and the script take together, about 220 MB here."""


def test_a_job_over_its_memory_ends_out_of_memory_and_its_retry_gets_more(cluster, tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    config = {
        **SMALL,
        "stages": ["sum"],
        "sum": {"chunks": 1, "threads": 1},
        "timing": {"compare_serial": False},
    }
    local = LocalRun(workflow_copy(tmp_path / "local"), config, PART)
    run = slurm_snakemake(
        workdir,
        cluster,
        config,
        PART,
        "--set-resources",
        f"sum_chunk:mem_mb={FIRST_ATTEMPT_MB}*attempt",
        "split_numbers:mem_mb=512*attempt",  # as in the profile, whose list this replaces
        "--group-components",
        "sum_chunks=1",
        "--slurm-init-seconds-before-status-checks",
        "2",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    slurm_logs = (workdir / ".snakemake/slurm_logs").glob("*sum_chunk*/**/*.log")
    jobs = sorted(sacct(*(p.stem for p in slurm_logs)), key=lambda job: int(job.job_id))
    assert len(jobs) >= 2
    assert {job.state for job in jobs[:-1]} == {"OUT_OF_MEMORY"}
    assert jobs[-1].state == "COMPLETED"
    assert [job.mem_mb for job in jobs] == [
        FIRST_ATTEMPT_MB * attempt for attempt in range(1, len(jobs) + 1)
    ]
    assert result_digests(workdir) == local.digests()
