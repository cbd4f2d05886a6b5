"""Integration: the real `snakemake` command runs demo_tasks, run_tasks and supervise."""

from __future__ import annotations

import filecmp
import json
import os
import sys
from pathlib import Path

import pytest

from poolpipe.core.timing import read_record
from poolpipe.tasks.demo import ALLOWED_LINKS, BROKEN_LINES, REFUSED

from ..workflow_helpers import snakemake, with_sheet, workflow_copy

pytestmark = pytest.mark.integration

SMALL = {
    "demo": {"seed": 11, "numbers": {"lines": 2000}, "tasks": {"files": 4, "tasks": 40}},
    "sum": {"chunks": 2, "threads": 2},
    "tasks": {"threads": 2},
    "supervise": {
        "duration_s": 60,
        "workers": [
            {"name": "render", "interval_s": 0.01, "ticks": 12},
            {"name": "network", "interval_s": 0.02, "ticks": 6, "fail_at_tick": 2},
        ],
        "programs": [
            {"name": "hello", "command": f"{sys.executable} -c \"print('hello from a program')\""}
        ],
    },
}
ROWS = 40 + len(ALLOWED_LINKS) + len(REFUSED) + len(BROKEN_LINES)
TICKS = (
    "process\tticks\trestarts\texit_code\tstatus\n"
    "render\t12\t0\t0\tfinished\n"
    "network\t6\t1\t0\tfinished\n"
    "hello\t0\t0\t0\tfinished\n"
)


def _rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """One run of the whole default job on a small config."""
    workdir = workflow_copy(tmp_path_factory.mktemp("stages"))
    run = snakemake(workdir, SMALL)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir


def test_run_tasks_reports_every_manifest_line(demo_run: Path) -> None:
    rows = _rows(demo_run / "results/tasks/tasks/results.tsv")
    assert len(rows) == ROWS
    assert [int(r["line"]) for r in rows] == list(range(1, ROWS + 1))
    by_task = {(r["op"], r["path"]): r for r in rows}
    for task in ALLOWED_LINKS:
        assert by_task[task["op"], task["path"]]["ok"] == "true"
    for task in REFUSED:
        assert by_task[task["op"], task["path"]]["ok"] == "false", task
    assert sum(r["ok"] == "false" for r in rows) == len(REFUSED) + len(BROKEN_LINES)
    manifest = (demo_run / "data/tasks/manifest.jsonl").read_text().splitlines()
    for row in rows:
        if row["ok"] == "true":
            assert json.loads(manifest[int(row["line"]) - 1])["path"] == row["path"]


def test_nothing_was_written_outside_the_task_root(demo_run: Path) -> None:
    assert sorted(p.name for p in (demo_run / "data/tasks").iterdir()) == [
        "manifest.jsonl",
        "root",
    ]
    root = demo_run / "data/tasks/root"
    assert not list(root.rglob("*.tmp"))
    written = sorted(p.name for p in (root / "out").iterdir())
    rows = _rows(demo_run / "results/tasks/tasks/results.tsv")
    assert written == sorted(
        Path(r["path"]).name for r in rows if r["op"] == "write" and r["ok"] == "true"
    )


def test_supervise_writes_deterministic_ticks(demo_run: Path) -> None:
    assert (demo_run / "results/supervise/ticks.tsv").read_text() == TICKS
    log = (demo_run / "logs/supervise.log").read_text()
    assert "process network (pid" in log and "died with exit code 1 after 1 ticks" in log
    assert "restarting network (1 of 3)" in log
    program = (demo_run / "logs/supervise/hello.log").read_text()
    assert program == "hello from a program\n"


def test_each_new_rule_leaves_a_timing_record_and_a_benchmark(demo_run: Path) -> None:
    for rule, stage in [
        ("demo_tasks", "tasks"),
        ("run_tasks/tasks", "tasks"),
        ("supervise", "supervise"),
    ]:
        record = read_record(demo_run / f"results/timing/{rule}.json")
        assert (record.rule, record.stage) == (rule.split("/")[0], stage)
        assert (demo_run / f"results/benchmarks/{rule}.tsv").exists()
    tasks = read_record(demo_run / "results/timing/run_tasks/tasks.json")
    assert (tasks.items, tasks.processes, tasks.serial_wall_s) == (ROWS, 2, None)
    assert tasks.bytes == sum(
        int(r["bytes"] or 0) for r in _rows(demo_run / "results/tasks/tasks/results.tsv")
    )
    ticks = read_record(demo_run / "results/timing/supervise.json")
    assert (ticks.items, ticks.processes) == (18, 3)


def test_a_second_run_has_nothing_to_do(demo_run: Path) -> None:
    again = snakemake(demo_run, SMALL)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_two_runs_give_byte_identical_results(demo_run: Path, tmp_path: Path) -> None:
    second = workflow_copy(tmp_path / "second")
    targets = ["results/tasks/tasks/results.tsv", "results/supervise/ticks.tsv"]
    run = snakemake(second, SMALL, *targets)
    assert run.returncode == 0, run.stderr[-3000:]
    for rel in ["data/tasks/manifest.jsonl", *targets[1:]]:
        assert filecmp.cmp(demo_run / rel, second / rel, shallow=False), rel
    # when and where each task ran (timings), and task_hash, which holds the root's real path
    clocks = ("start", "runtime_s", "worker", "task_hash")
    first, again = (
        [{k: v for k, v in row.items() if k not in clocks} for row in _rows(base / targets[0])]
        for base in (demo_run, second)
    )
    assert first == again


def test_a_users_own_manifest_and_root(tmp_path: Path) -> None:
    workdir = workflow_copy(tmp_path / "wf")
    root = tmp_path / "mine"
    root.mkdir()
    (root / "in.txt").write_text("mine\n")
    manifest = tmp_path / "mine.jsonl"
    manifest.write_text(
        '{"op": "copy", "src": "in.txt", "path": "copies/in.txt"}\n'
        '{"op": "read", "path": "copies/in.txt"}\n'
        '{"op": "read", "path": "../mine.jsonl"}\n'
    )
    sheet = [{"name": "mine", "stage": "tasks", "path": manifest, "root": root}]
    run = snakemake(workdir, with_sheet(workdir, sheet), "results/tasks/mine/results.tsv")
    assert run.returncode == 0, run.stderr[-3000:]
    rows = _rows(workdir / "results/tasks/mine/results.tsv")
    assert [(r["op"], r["ok"]) for r in rows] == [
        ("copy", "true"),
        ("read", "true"),
        ("read", "false"),
    ]
    assert (root / "copies" / "in.txt").read_text() == "mine\n"
    assert not (workdir / "data").exists()
    log = (workdir / "logs/run_tasks/mine.log").read_text()
    assert "1 of 3 tasks failed: their rows say why" in log  # the job itself succeeds
    # Another manifest put in its place with the old one's times runs again, as a new input.
    old = manifest.stat()
    manifest.write_text('{"op": "write", "path": "new.txt", "content": "new"}\n')
    os.utime(manifest, ns=(old.st_atime_ns, old.st_mtime_ns))
    run = snakemake(workdir, with_sheet(workdir, sheet), "results/tasks/mine/results.tsv")
    assert run.returncode == 0, run.stderr[-3000:]
    assert [r["op"] for r in _rows(workdir / "results/tasks/mine/results.tsv")] == ["write"]
    assert (root / "new.txt").read_text() == "new"


def test_a_missing_root_is_named_before_any_job_runs(tmp_path: Path) -> None:
    workdir = workflow_copy(tmp_path / "wf")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"op": "read", "path": "x"}\n')
    absent = tmp_path / "absent"
    rows = [{"name": "t", "stage": "tasks", "path": manifest, "root": absent}]
    run = snakemake(workdir, with_sheet(workdir, rows), "results/tasks/t/results.tsv")
    assert run.returncode != 0
    assert f"dataset 't' (tasks): root folder {str(absent)!r} does not exist" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_bad_supervise_config_is_one_sentence(tmp_path: Path) -> None:
    workdir = workflow_copy(tmp_path / "wf")
    twice = {"workers": [{"name": "x", "interval_s": 0.01}, {"name": "x", "interval_s": 0.01}]}
    run = snakemake(workdir, {"supervise": twice}, "results/supervise/ticks.tsv")
    assert run.returncode != 0  # refused at the start, before any job
    assert run.stderr.splitlines()[-1] == "worker loop or program name 'x' is used twice"
    assert "Traceback" not in run.stderr and not (workdir / "results").exists()
    typo = {"workers": [{"name": "x", "interval": 1}]}
    run = snakemake(workdir, {"supervise": typo}, "--dry-run")
    assert run.returncode != 0
    assert (
        "config key 'supervise.workers[0].interval' is not a setting; did you mean "
        + ("'supervise.workers[0].interval_s'?")
        in run.stdout + run.stderr
    )
