"""--resume and --resume-failed: rows kept by manifest line and task hash, the journal of a
run that was killed, and a write that landed before its row is never written again."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poolpipe.errors import PoolpipeError
from poolpipe.tasks import journal_path, run_to_file
from poolpipe.tasks import ops as task_ops
from poolpipe.tasks.journal import HEADER, Journal
from poolpipe.tasks.manifest import manifest_tasks
from poolpipe.tasks.ops import temporary_prefix
from poolpipe.tasks.results import FIELDS
from tests.core.test_outputs import dead_writer_name
from tests.tasks.inotify import Renames

from ..helpers import POOLPIPE, run_poolpipe, wait_until

CLOCKS = {"start", "runtime_s", "worker"}


def _content(i: int) -> str:
    return f"line {i} of the canary\n" * (1 + i % 7)


def _setup(tmp_path: Path, writes: int = 24) -> tuple[Path, Path, list[dict]]:
    """A root with in/ and out/, and a manifest of writes, copies, reads and two failures."""
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    (root / "in").mkdir()
    (root / "in" / "blob.bin").write_bytes(random.Random(3).randbytes(50_000))
    tasks: list[dict] = []
    for i in range(writes):
        tasks.append({"op": "write", "path": f"out/w{i:04d}.txt", "content": _content(i)})
        if i % 4 == 0:
            tasks.append({"op": "copy", "src": "in/blob.bin", "path": f"out/c{i:04d}.bin"})
        if i % 5 == 0:
            tasks.append({"op": "read", "path": f"out/w{i:04d}.txt"})
    tasks.insert(3, {"op": "read", "path": "in/late.txt"})  # missing: fails until it exists
    tasks.insert(7, {"op": "read", "path": "../outside.txt"})  # refused: always fails
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    return manifest, root, tasks


def _task(manifest: Path, root: Path, path: str):
    """The task of the manifest that writes path, as a run in root sees it (its hash)."""
    with manifest.open("rb") as fh:
        salt = os.fsencode(os.path.realpath(root))
        return next(t for t in manifest_tasks(fh, salt=salt) if t.path == path)


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file where every worker appends the manifest line of each task it runs."""
    log = tmp_path / "calls.txt"
    real = task_ops.run_task

    def counted(root, task, **kw):
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.write(fd, f"{task.line}\n".encode())
        os.close(fd)
        return real(root, task, **kw)

    monkeypatch.setattr(task_ops, "run_task", counted)
    return log


def _calls(log: Path) -> list[int]:
    return sorted(int(n) for n in log.read_text().split()) if log.exists() else []


def _rows(path: Path, clocks: bool = False) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    assert lines[0] == "\t".join(FIELDS)
    rows = [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in lines[1:]]
    return rows if clocks else [{k: v for k, v in r.items() if k not in CLOCKS} for r in rows]


def test_rows_say_how_each_task_ran_as_a_joblog_does(tmp_path: Path) -> None:
    manifest, root, _ = _setup(tmp_path)
    out = tmp_path / "results.tsv"
    began = time.time()
    run_to_file(manifest, root, out, processes=2)
    ended = time.time()
    rows = _rows(out, clocks=True)
    lines = manifest.read_bytes().splitlines()
    for row, line in zip(rows, lines, strict=True):
        salted = os.fsencode(os.path.realpath(root)) + b"\0" + line.strip()
        assert row["task_hash"] == hashlib.sha256(salted).hexdigest()[:16]
        if row["path"] == "../outside.txt":  # refused before it reached a worker
            assert (row["attempts"], row["start"], row["runtime_s"], row["worker"]) == (
                "0",
                "",
                "",
                "",
            )
            continue
        assert row["attempts"] == "1" and row["worker"] in ("1", "2")
        assert began - 0.001 <= float(row["start"]) <= ended
        assert 0 <= float(row["runtime_s"]) <= ended - began + 0.001


def test_resuming_a_finished_run_runs_nothing_and_keeps_the_file(tmp_path: Path, calls) -> None:
    manifest, root, tasks = _setup(tmp_path)
    out = tmp_path / "results.tsv"
    first = run_to_file(manifest, root, out, processes=2)
    assert first.tasks == len(tasks) and first.failed == 2
    before = out.read_bytes()
    calls.unlink()
    again = run_to_file(manifest, root, out, processes=2, resume="ok")
    assert _calls(calls) == []
    assert out.read_bytes() == before
    assert again == first
    assert not journal_path(out).exists()


def test_resume_failed_runs_the_failed_tasks_only(tmp_path: Path, calls) -> None:
    manifest, root, _ = _setup(tmp_path)
    out = tmp_path / "results.tsv"
    run_to_file(manifest, root, out, processes=2)
    before = _rows(out, clocks=True)
    failed = [r for r in before if r["ok"] == "false"]
    assert [r["path"] for r in failed] == ["in/late.txt", "../outside.txt"]
    (root / "in" / "late.txt").write_text("here now\n")
    calls.unlink()
    run_to_file(manifest, root, out, processes=2, resume="ok")
    assert _calls(calls) == []  # --resume keeps failed rows too, as parallel --resume does
    assert _rows(out, clocks=True) == before
    summary = run_to_file(manifest, root, out, processes=2, resume="failed")
    assert _calls(calls) == [int(failed[0]["line"])]  # the refused path never reaches a worker
    after = _rows(out, clocks=True)
    assert [r["ok"] for r in after if r["path"] == "in/late.txt"] == ["true"]
    assert [r for r in after if r["path"] != "in/late.txt"] == [
        r for r in before if r["path"] != "in/late.txt"
    ]
    assert summary.failed == 1


def _edit_in_place(path: Path, data: bytes) -> None:
    """Replace path's bytes with as many others, its modification time kept."""
    before = path.stat()
    assert len(data) == before.st_size
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_resume_checks_the_content_of_what_rows_recorded_done(
    tmp_path: Path, calls, caplog: pytest.LogCaptureFixture
) -> None:
    """Files edited since the run, size and time kept: the tasks whose rows they contradict run
    again (a write restores its target, a copy takes the new source, a read sees the new
    bytes); a file that a later task wrote again is checked by that task's row only."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "src.bin").write_bytes(b"source one\n")
    (root / "note.txt").write_text("a user's note\n")
    tasks = [
        {"op": "write", "path": "a.txt", "content": "AAAA\n"},
        {"op": "copy", "src": "src.bin", "path": "b.bin"},
        {"op": "read", "path": "note.txt"},
        {"op": "checksum", "path": "a.txt"},
        {"op": "write", "path": "c.txt", "content": "old\n"},
        {"op": "read", "path": "c.txt"},
        {"op": "write", "path": "c.txt", "content": "new\n"},
        {"op": "write", "path": "d.txt", "content": "kept\n"},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    out = tmp_path / "results.tsv"
    run_to_file(manifest, root, out, processes=2)
    before = {r["line"]: r for r in _rows(out, clocks=True)}
    _edit_in_place(root / "a.txt", b"BBBB\n")
    _edit_in_place(root / "src.bin", b"source two\n")
    _edit_in_place(root / "note.txt", b"A user's note\n")
    calls.unlink(missing_ok=True)
    with caplog.at_level("WARNING", logger="poolpipe.tasks.run"):
        summary = run_to_file(manifest, root, out, processes=2, resume="ok")
    assert _calls(calls) == [1, 2, 3]
    assert "3 tasks recorded done ran again" in caplog.text
    after = {r["line"]: r for r in _rows(out, clocks=True)}
    sha = {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in os.listdir(root)
    }
    assert (root / "a.txt").read_bytes() == b"AAAA\n"
    assert (root / "b.bin").read_bytes() == b"source two\n"
    assert after["1"]["sha256"] == sha["a.txt"] == before["1"]["sha256"]
    assert after["2"]["sha256"] == sha["b.bin"] == sha["src.bin"] != before["2"]["sha256"]
    assert after["3"]["sha256"] == sha["note.txt"] != before["3"]["sha256"]
    for line in ("4", "5", "6", "7", "8"):  # unchanged, or written again by a later task
        assert after[line] == before[line]
    assert summary.failed == 0 and summary.tasks == len(tasks)


def test_a_killed_run_resumes_from_its_journal(tmp_path: Path, calls) -> None:
    """A journal holds the rows of the tasks that finished, in the order they finished, and
    maybe a last line cut off by the kill: resume runs exactly the others."""
    manifest, root, _ = _setup(tmp_path)
    out = tmp_path / "results.tsv"
    run_to_file(manifest, root, out, processes=2)
    whole = _rows(out)
    lines = out.read_text().splitlines()[1:]
    done = random.Random(5).sample(lines, len(lines) // 2)
    torn = lines[0][: len(lines[0]) // 2]
    journal_path(out).write_text(HEADER + "".join(f"{line}\n" for line in done) + torn)
    out.unlink()
    calls.unlink()
    run_to_file(manifest, root, out, processes=2, resume="ok")
    ran = {int(r["line"]) for r in whole} - {int(line.split("\t")[0]) for line in done}
    refused = {int(r["line"]) for r in whole if r["path"] == "../outside.txt"}
    assert _calls(calls) == sorted(ran - refused)
    assert _rows(out) == whole
    assert not journal_path(out).exists()


def test_a_write_that_landed_before_its_row_is_not_written_again(tmp_path: Path) -> None:
    """The crash window between a write's rename and its journal row: resume finds the bytes
    in place and records the task done; a target with other bytes is written again."""
    manifest, root, tasks = _setup(tmp_path, writes=8)
    out = tmp_path / "results.tsv"
    for i in (0, 1, 2):
        (root / "out" / f"w{i:04d}.txt").write_text(_content(i))
    (root / "out" / "w0003.txt").write_text("not what the task writes\n")
    left = dead_writer_name(temporary_prefix("w0001.txt", _task(manifest, root, "out/w0001.txt")))
    (root / "out" / left).write_text("left by a killed worker")
    (root / "out" / ".w0001.txt.k2j4h5sd.tmp").write_text("a user's file, not ours")
    journal_path(out).write_text(HEADER)
    canary = Renames(root / "out")
    try:
        summary = run_to_file(manifest, root, out, processes=2, resume="ok")
        renames = canary.drain()
    finally:
        canary.close()
    writes = [t["path"].split("/")[1] for t in tasks if t["op"] in ("write", "copy")]
    in_place = {f"w{i:04d}.txt" for i in (0, 1, 2)}
    assert set(renames) <= set(writes)
    assert {n: renames[n] for n in writes} == {n: 0 if n in in_place else 1 for n in writes}
    rows = {r["path"]: r for r in _rows(out)}
    for i in range(8):
        data = _content(i).encode()
        assert rows[f"out/w{i:04d}.txt"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert (root / "out" / f"w{i:04d}.txt").read_bytes() == data
    assert [p.name for p in (root / "out").glob("*.tmp")] == [".w0001.txt.k2j4h5sd.tmp"]
    assert summary.failed == 2


def test_a_fresh_run_removes_what_killed_writes_of_its_tasks_left_and_nothing_else(
    tmp_path: Path,
) -> None:
    """Without --resume too: a dead writer's temporary file of a task is removed before that
    task writes; a live writer's, a user's file of a similar name and another task's stay."""
    manifest, root, _ = _setup(tmp_path, writes=4)
    prefix = temporary_prefix("w0001.txt", _task(manifest, root, "out/w0001.txt"))
    dead = dead_writer_name(prefix)
    host, _, rand = dead[len(prefix) : -len(".tmp")].split("-")
    live = f"{prefix}{host}-{os.getpid()}-{rand}.tmp"
    other = dead_writer_name(temporary_prefix("w0001.txt", _task(manifest, root, "out/w0002.txt")))
    for name in (dead, live, other, ".w0001.txt.k2j4h5sd.tmp"):
        (root / "out" / name).write_text("left\n")
    run_to_file(manifest, root, tmp_path / "results.tsv", processes=2)
    assert sorted(p.name for p in (root / "out").glob("*.tmp")) == sorted(
        [live, other, ".w0001.txt.k2j4h5sd.tmp"]
    )


def _cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_poolpipe("tasks", *args, timeout=timeout)


def test_bad_previous_results_are_one_sentence_and_missing_ones_run_all(tmp_path: Path) -> None:
    manifest, root, tasks = _setup(tmp_path, writes=4)
    out = tmp_path / "results.tsv"
    other = tmp_path / "other.jsonl"
    other.write_text('{"op": "read", "path": "in/blob.bin"}\n' * len(tasks))
    failed = _cli(other, "--root", root, "--out", out)  # rows: not UTF-8 text
    assert failed.returncode == len(tasks), failed.stderr
    cases = {
        "another manifest": (
            "records another task at manifest line 1: it belongs to another manifest"
        ),
        "corrupt": "line 3 is not a results row",
        "not ours": "is not a results file of this version of poolpipe",
    }
    text = out.read_text()
    for case, error in cases.items():
        if case == "corrupt":
            lines = text.splitlines(keepends=True)
            out.write_text("".join(lines[:2]) + "3\twrite\tx\tmaybe\n")
        elif case == "not ours":
            out.write_text("line\top\n1\tread\n")
        run = _cli(manifest, "--root", root, "--out", out, "--resume")
        assert run.returncode == 1, run.stderr
        assert run.stderr.strip().startswith("poolpipe: error: "), run.stderr
        assert error in run.stderr and "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    fresh = _cli(manifest, "--root", root, "--out", tmp_path / "new.tsv", "--resume-failed")
    assert fresh.returncode == json.loads(fresh.stdout)["failed"] == 2, fresh.stderr
    assert "no previous results" in fresh.stderr
    assert json.loads(fresh.stdout)["tasks"] == len(tasks)


def test_sigkill_of_the_whole_run_then_resume_loses_no_task_and_repeats_no_write(
    tmp_path: Path,
) -> None:
    """Kill the run's process group with SIGKILL mid-run, resume: every write and copy has
    landed exactly once (a rename counted by inotify), and the results are a whole run's."""
    manifest, root, tasks = _setup(tmp_path, writes=900)
    out = tmp_path / "results.tsv"
    canary = Renames(root / "out")
    args = [manifest, "--root", root, "--out", out, "--processes", "2"]
    proc = subprocess.Popen(
        [*POOLPIPE, "tasks", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            canary.drain()
            journal = journal_path(out)
            if journal.exists() and journal.read_bytes().count(b"\n") > 60:
                break
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert not out.exists(), "the run ended before it could be killed"
        canary.drain()
        resumed = _cli(*args, "--resume")
        assert resumed.returncode == 2, resumed.stderr  # the two refused tasks
        renames = canary.drain()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        canary.close()
    written = [t["path"].split("/")[1] for t in tasks if t["op"] in ("write", "copy")]
    assert set(renames) == set(written)
    assert {n: renames[n] for n in written} == dict.fromkeys(written, 1)
    rows = _rows(out)
    assert [int(r["line"]) for r in rows] == list(range(1, len(tasks) + 1))
    assert [r["path"] for r in rows if r["ok"] == "false"] == ["in/late.txt", "../outside.txt"]
    for row, task in zip(rows, tasks, strict=True):
        assert row["path"] == task["path"]
        if task["op"] == "write":
            assert row["sha256"] == hashlib.sha256(task["content"].encode()).hexdigest()
    assert not journal_path(out).exists()
    assert not list((root / "out").glob("*.tmp"))


HOLD = """
import sys
from pathlib import Path
from poolpipe.tasks.journal import Journal
journal = Journal(sys.argv[1], append=True)
journal.open()
Path(sys.argv[2]).touch()
sys.stdin.read()
"""


@pytest.mark.parametrize("earlier", [False, True], ids=["fresh", "journal-left"])
def test_a_second_run_on_the_same_results_is_refused_while_one_writes(
    tmp_path: Path, earlier: bool
) -> None:
    """Another run writing the same results file holds its journal: a fresh run, a resumed one
    and one that would replace a journal left earlier are refused with one sentence and leave it
    as it is; once that run has ended, the journal is free again."""
    manifest, root, _ = _setup(tmp_path, writes=2)
    out = tmp_path / "results.tsv"
    journal = journal_path(out)
    if earlier:
        journal.write_text(HEADER)
    ready = tmp_path / "ready"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(journal), str(ready)], stdin=subprocess.PIPE
    )
    try:
        assert wait_until(ready.exists, timeout=60)
        held = journal.read_bytes()
        for resume in (None, "ok", "failed"):
            with pytest.raises(PoolpipeError, match="another run is writing journal"):
                run_to_file(manifest, root, out, processes=2, resume=resume)
            assert journal.read_bytes() == held
            assert not out.exists()
    finally:
        holder.communicate(timeout=60)
    run_to_file(manifest, root, out, processes=2)
    assert not journal.exists()
    assert out.exists()


FINISH = """
import os
import sys
from pathlib import Path
from poolpipe.tasks import journal as module
journal = module.Journal(sys.argv[1], append=False)
journal.open()
ours, close = journal._fd, os.close
def held_after(fd):  # the run pauses the moment its journal's descriptor, and lock, are gone
    close(fd)
    if fd == ours:
        Path(sys.argv[2]).touch()
        sys.stdin.read()
module.os.close = held_after
journal.close(remove=True)
"""


def test_a_run_that_ends_removes_no_journal_of_a_run_that_started_meanwhile(tmp_path: Path) -> None:
    """A finished run removes its journal while it still holds its lock: a run that starts
    as the first lets go of it makes a journal of its own, which stays."""
    journal = journal_path(tmp_path / "results.tsv")
    closed = tmp_path / "closed"
    ending = subprocess.Popen(
        [sys.executable, "-c", FINISH, str(journal), str(closed)], stdin=subprocess.PIPE
    )
    try:
        assert wait_until(closed.exists, timeout=60)
        starting = Journal(journal, append=False)
        starting.open()
    finally:
        ending.communicate(timeout=60)
    assert ending.returncode == 0
    assert journal.read_text() == HEADER  # the second run's, still being written
    starting.close(remove=True)


def test_a_file_system_without_locks_still_runs_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where lockf says the file system keeps no locks (NFS without its lock daemon), a run goes
    on without one, as it did before runs were locked."""
    import errno
    import fcntl

    def no_locks(*_args: object) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "lockf", no_locks)
    manifest, root, _ = _setup(tmp_path, writes=2)
    out = tmp_path / "results.tsv"
    run_to_file(manifest, root, out, processes=1)
    assert out.exists() and not journal_path(out).exists()
