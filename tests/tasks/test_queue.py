"""The file task queue: results in manifest order, manifest errors, confinement to the root,
atomic writes under a kill, stops on signals, and no process left behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from poolpipe.core.pool import StopOnSignals
from poolpipe.errors import PoolpipeError, Stopped
from poolpipe.tasks.demo import REFUSED, write_demo
from poolpipe.tasks.manifest import parse_task
from poolpipe.tasks.queue import _Queue
from poolpipe.tasks.results import FIELDS, TaskResult, write_results
from poolpipe.tasks.root import Root
from poolpipe.tasks.run import run_tasks

from ..helpers import POOLPIPE, alive, children, wait_until


def _manifest(path: Path, tasks: list[dict | str]) -> Path:
    lines = [t if isinstance(t, str) else json.dumps(t) for t in tasks]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(tmp_path: Path, tasks: list[dict | str], processes: int = 2, **kw) -> list[TaskResult]:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    manifest = _manifest(tmp_path / "manifest.jsonl", tasks)
    return list(run_tasks(manifest, root, processes, **kw))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under folder (not following symlinks): its bytes and modification time."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(folder))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


# --- the four ops ---------------------------------------------------------------------------


def test_each_op_reports_bytes_and_sha256(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "in").mkdir(parents=True)
    (root / "in" / "note.txt").write_text("héllo\n")
    (root / "in" / "blob.bin").write_bytes(b"\xff\x00" * 3000)
    rows = _run(
        tmp_path,
        [
            {"op": "read", "path": "in/note.txt"},
            {"op": "checksum", "path": "in/blob.bin"},
            {"op": "write", "path": "out/new.txt", "content": "ünïcode\n"},
            {"op": "copy", "src": "in/blob.bin", "path": "out/sub/blob.bin"},
        ],
    )
    note, blob, new = "héllo\n".encode(), b"\xff\x00" * 3000, "ünïcode\n".encode()
    assert [(r.line, r.op, r.ok, r.bytes, r.sha256, r.error) for r in rows] == [
        (1, "read", True, len(note), _sha(note), ""),
        (2, "checksum", True, len(blob), _sha(blob), ""),
        (3, "write", True, len(new), _sha(new), ""),
        (4, "copy", True, len(blob), _sha(blob), ""),
    ]
    assert (root / "out" / "new.txt").read_bytes() == new
    assert (root / "out" / "sub" / "blob.bin").read_bytes() == blob
    assert oct((root / "out" / "new.txt").stat().st_mode & 0o777) == "0o644"
    assert not list(root.rglob(".*.tmp"))


def test_read_is_for_utf8_text_and_checksum_for_any_bytes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "bin").write_bytes(b"ok\n" * 10 + b"\xc3")
    rows = _run(tmp_path, [{"op": "read", "path": "bin"}, {"op": "checksum", "path": "bin"}])
    assert rows[0].ok is False and rows[0].error == "the file is not UTF-8 text (byte 30)"
    assert rows[1].ok is True and rows[1].bytes == 31


def test_a_write_replaces_a_file_and_empty_content_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.txt").write_text("old and longer\n")
    rows = _run(
        tmp_path,
        [
            {"op": "write", "path": "f.txt", "content": "new\n"},
            {"op": "write", "path": "empty.txt", "content": ""},
        ],
    )
    assert all(r.ok for r in rows)
    assert (root / "f.txt").read_text() == "new\n"
    assert (root / "empty.txt").read_bytes() == b""


def test_os_errors_are_error_rows(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    (root / "file").write_text("x")
    rows = _run(
        tmp_path,
        [
            {"op": "write", "path": "dir", "content": "x"},
            {"op": "write", "path": "file/x", "content": "x"},
            {"op": "copy", "src": "missing", "path": "y"},
            {"op": "read", "path": "dir"},
        ],
    )
    assert [(r.ok, r.error) for r in rows] == [
        (False, "'dir' is a folder"),
        (False, "'file' is not a folder"),
        (False, "'missing' does not exist"),
        (False, "'dir' is a folder"),
    ]
    assert not (root / "y").exists()
    assert not list(root.rglob(".*.tmp"))


# --- order and determinism ------------------------------------------------------------------


def _chain(n: int) -> list[dict]:
    """write a_i, copy a_i -> b_i, read b_i, overwrite a_i, checksum a_i, for i < n."""
    tasks: list[dict] = []
    for i in range(n):
        tasks += [
            {"op": "write", "path": f"d{i % 3}/a{i}.txt", "content": f"first {i}\n" * (i + 1)},
            {"op": "copy", "src": f"d{i % 3}/a{i}.txt", "path": f"d{i % 3}/b{i}.txt"},
            {"op": "read", "path": f"d{i % 3}/b{i}.txt"},
            {"op": "write", "path": f"d{i % 3}/a{i}.txt", "content": f"second {i}\n"},
            {"op": "checksum", "path": f"d{i % 3}/a{i}.txt"},
        ]
    return tasks


@pytest.mark.parametrize("processes", [1, 2, 4])
@pytest.mark.parametrize("in_flight", [None, 3, 50])
def test_results_are_those_of_running_the_manifest_in_order(
    tmp_path: Path, processes: int, in_flight: int | None
) -> None:
    rows = _run(tmp_path, _chain(40), processes, in_flight=in_flight)
    assert [r.line for r in rows] == list(range(1, 201))
    assert all(r.ok for r in rows), [r for r in rows if not r.ok][:3]
    for i in range(40):
        first, second = f"first {i}\n".encode() * (i + 1), f"second {i}\n".encode()
        copied, read, checked = rows[5 * i + 1], rows[5 * i + 2], rows[5 * i + 4]
        assert copied.sha256 == read.sha256 == _sha(first)
        assert checked.sha256 == _sha(second)


def test_a_task_waits_for_a_write_to_a_folder_it_lives_in(tmp_path: Path) -> None:
    """'w' written as a file, then 'w/x' (refused: not a folder), then the same the other way."""
    tasks = [
        {"op": "write", "path": "w", "content": "file\n"},
        {"op": "write", "path": "w/x", "content": "x"},
        {"op": "write", "path": "v/x", "content": "x"},
        {"op": "write", "path": "v", "content": "file\n"},
    ] * 1
    for _ in range(5):
        rows = _run(tmp_path, tasks, processes=4)
        assert [(r.ok, r.error) for r in rows] == [
            (True, ""),
            (False, "'w' is not a folder"),
            (True, ""),
            (False, "'v' is a folder"),
        ]


CLOCKS = ("start", "runtime_s", "worker")
"""The columns of results.tsv that say when and where a task ran: they differ run to run."""


def _without_clocks(text: str) -> list[list[str]]:
    """results.tsv's rows, header included, without the CLOCKS columns and task_hash (which
    holds the root's path, a different folder for each run here)."""
    keep = [i for i, name in enumerate(FIELDS) if name not in (*CLOCKS, "task_hash")]
    return [[row.split("\t")[i] for i in keep] for row in text.splitlines()]


def test_the_same_manifest_gives_identical_results_but_for_the_clocks(tmp_path: Path) -> None:
    outs = []
    for processes in (1, 3, 3):
        base = tmp_path / f"run{len(outs)}"
        write_demo(base / "manifest.jsonl", base / "root", files=6, tasks=120, seed=5)
        summary = write_results(
            base / "results.tsv", run_tasks(base / "manifest.jsonl", base / "root", processes)
        )
        outs.append(_without_clocks((base / "results.tsv").read_text()))
        assert summary.tasks == 120 + len(REFUSED) + 4
    assert outs[0] == outs[1] == outs[2]
    assert len({len(row) for row in outs[0]}) == 1
    again = tmp_path / "run2"
    write_results(again / "again.tsv", run_tasks(again / "manifest.jsonl", again / "root", 2))
    assert (
        _without_clocks((again / "again.tsv").read_text()) == outs[2]
    )  # the demo re-runs the same


def test_results_tsv_has_a_header_and_escapes_text(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    rows = _run(tmp_path, [{"op": "write", "path": "tab\there\nnew\\line", "content": "x"}])
    summary = write_results(tmp_path / "results.tsv", rows)
    text = (tmp_path / "results.tsv").read_text()
    assert text.splitlines()[0].split("\t") == list(FIELDS)
    assert text.splitlines()[1].split("\t")[:4] == [
        "1",
        "write",
        "tab\\there\\nnew\\\\line",
        "true",
    ]
    assert len(text.splitlines()) == 2
    assert (summary.tasks, summary.ok, summary.failed, summary.bytes) == (1, 1, 0, 1)
    assert (root / "tab\there\nnew\\line").read_text() == "x"


# --- manifest errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "op", "path", "error"),
    [
        (b'{"op": "read", "path": ', "", "", "the line is not valid JSON (Expecting value)"),
        (b"not json at all", "", "", "the line is not valid JSON (Expecting value)"),
        (b'["read", "x"]', "", "", "the line is not a JSON object"),
        (b'{"op": "read", "path": "\xff"}', "", "", "the line is not UTF-8 text"),
        (b'{"path": "x"}', "", "x", "the task has no 'op'"),
        (b'{"op": "delete", "path": "x"}', "delete", "x", "unknown op 'delete'"),
        (b'{"op": 3, "path": "x"}', "", "x", "unknown op 3"),
        (b'{"op": null, "path": "x"}', "", "x", "unknown op null (one of"),
        (b'{"op": "read", "path": "x", "op": "write"}', "", "", "the key 'op' is given twice"),
        (b'{"op": "read", "path": "x", "n": ' + b"9" * 5000 + b"}", "", "", "over 4300 digits"),
        (b'{"op": "read"}', "read", "", "'path' must be a non-empty string"),
        (b'{"op": "read", "path": ""}', "read", "", "'path' must be a non-empty string"),
        (b'{"op": "read", "path": ["x"]}', "read", "", "'path' must be a non-empty string"),
        (b'{"op": "write", "path": "x"}', "write", "x", "a write task needs 'content'"),
        (b'{"op": "write", "path": "x", "content": 5}', "write", "x", "needs 'content'"),
        (b'{"op": "write", "path": "x", "content": "\\ud800"}', "write", "x", "not valid Unicode"),
        (b'{"op": "read", "path": "x", "content": "y"}', "read", "x", "only to write tasks"),
        (b'{"op": "copy", "path": "x"}', "copy", "x", "a copy task needs 'src'"),
        (b'{"op": "read", "path": "x", "src": "y"}', "read", "x", "only to copy tasks"),
        (b'{"op": "read", "path": "x", "mode": "w"}', "read", "x", "unknown key 'mode'"),
    ],
)
def test_a_malformed_line_is_an_error_row(line: bytes, op: str, path: str, error: str) -> None:
    row = parse_task(7, line)
    assert isinstance(row, TaskResult)
    assert (row.line, row.op, row.path, row.ok, row.bytes) == (7, op, path, False, None)
    assert error in row.error


def test_error_rows_keep_their_line_numbers_among_tasks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("a\n")
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(
        b'{"op": "read", "path": "a.txt"}\n'
        b"\n"
        b"   \n"
        b"{broken\n"
        b'{"op": "checksum", "path": "a.txt"}\n'
        b'{"op": "read", "path": "../a.txt"}'  # the last line needs no newline
    )
    rows = list(run_tasks(manifest, root, 2))
    assert [(r.line, r.ok) for r in rows] == [(1, True), (4, False), (5, True), (6, False)]
    assert "not valid JSON" in rows[1].error
    assert rows[3].error == "a '..' in a task path is refused"


def test_a_missing_manifest_or_root_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    with pytest.raises(PoolpipeError, match=r"task manifest .* does not exist"):
        list(run_tasks(tmp_path / "none.jsonl", tmp_path / "root", 2))
    with pytest.raises(PoolpipeError, match=r"task manifest .* is a folder"):
        list(run_tasks(tmp_path, tmp_path / "root", 2))
    _manifest(tmp_path / "m.jsonl", [{"op": "read", "path": "x"}])
    with pytest.raises(PoolpipeError, match=r"task root .* does not exist"):
        list(run_tasks(tmp_path / "m.jsonl", tmp_path / "nope", 2))
    with pytest.raises(PoolpipeError, match="processes must be at least 1"):
        list(run_tasks(tmp_path / "m.jsonl", tmp_path / "root", 0))


def test_a_signal_after_the_last_row_still_stops_the_run(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "x").write_text("x")
    manifest = _manifest(tmp_path / "m.jsonl", [{"op": "read", "path": "x"}])
    rows = run_tasks(manifest, tmp_path / "root", 2)
    assert next(rows).ok
    os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(Stopped):
        next(rows)


def test_workers_stopped_as_they_start_end_by_their_sigterm_not_a_sigkill(tmp_path: Path) -> None:
    """A SIGTERM that reaches a worker before it has set up its handlers must not be lost
    (it would run the parent's handler there): the worker ends by it, not by the SIGKILL
    sent after the grace period."""
    (tmp_path / "root").mkdir()
    for _ in range(5):
        with Root(tmp_path / "root") as root, StopOnSignals(deferred=True) as stop:
            queue = _Queue(root, 2, stop)
            queue.abort()
        codes = [proc.exitcode for proc in queue.procs]
        assert all(code in (-signal.SIGTERM, 128 + signal.SIGTERM) for code in codes), codes


# --- confinement ------------------------------------------------------------------------------


def test_nothing_outside_the_root_is_read_or_written(tmp_path: Path) -> None:
    """The demo's refused tasks, and more, against a root with symlinks pointing out."""
    base = tmp_path / "base"
    write_demo(base / "manifest.jsonl", base / "root", files=3, tasks=30, seed=1)
    (base / "secret.txt").write_text("secret\n")
    root = base / "root"
    os.symlink("../../secret.txt", root / "docs" / "secret-link")
    os.symlink(str(base), root / "docs" / "abs-out")
    os.symlink("../docs/../..", root / "data" / "climb")
    extra = [
        {"op": "read", "path": "docs/secret-link"},
        {"op": "checksum", "path": "docs/abs-out/secret.txt"},
        {"op": "copy", "src": "data/climb/secret.txt", "path": "stolen.txt"},
        {"op": "copy", "src": "docs/note-000.txt", "path": "docs/abs-out/planted.txt"},
        {"op": "write", "path": "data/climb/planted.txt", "content": "x"},
        {"op": "write", "path": "escape/secret.txt", "content": "overwritten"},
        {"op": "write", "path": str(base / "planted.txt"), "content": "x"},
        {"op": "write", "path": "docs/secret-link", "content": "overwritten"},
    ]
    with (base / "manifest.jsonl").open("a") as fh:
        fh.writelines(json.dumps(t) + "\n" for t in extra)
    before = {k: v for k, v in _snapshot(base).items() if not k.startswith("root/")}
    os.utime(base / "secret.txt", ns=(1, 1))  # a read would now update the access time
    rows = list(run_tasks(base / "manifest.jsonl", root, 2))
    assert os.stat(base / "secret.txt").st_atime_ns == 1  # not even read
    os.utime(base / "secret.txt", ns=(1, before["secret.txt"][1]))
    after = {k: v for k, v in _snapshot(base).items() if not k.startswith("root/")}
    assert after == before
    refused = {r.path: r.error for r in rows if not r.ok}
    for task in [*extra, *REFUSED[:6]]:
        assert "outside the root" in refused[task["path"]] or "'..'" in refused[task["path"]]
    assert not (root / "stolen.txt").exists()


def test_an_absolute_path_inside_the_root_works(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    rows = _run(
        tmp_path,
        [
            {"op": "write", "path": str(root / "abs.txt"), "content": "x"},
            {"op": "read", "path": "abs.txt"},
        ],
    )
    assert [r.ok for r in rows] == [True, True]


# --- processes: kills, signals, no leftovers ------------------------------------------------


def _big_copies(tmp_path: Path, copies: int, size: int) -> tuple[Path, Path, bytes]:
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    data = os.urandom(1 << 20) * (size >> 20)
    (root / "big.bin").write_bytes(data)
    for i in range(copies):
        (root / "out" / f"copy-{i}.bin").write_bytes(b"old\n")
    tasks = [{"op": "copy", "src": "big.bin", "path": f"out/copy-{i}.bin"} for i in range(copies)]
    return _manifest(tmp_path / "manifest.jsonl", tasks), root, data


@contextlib.contextmanager
def _cli_run(
    manifest: Path, root: Path, out: Path, processes: int
) -> Iterator[subprocess.Popen[str]]:
    """`poolpipe tasks` in its own process group, killed with its workers if still running."""
    args = ["tasks", str(manifest), "--root", str(root), "--out", str(out)]
    proc = subprocess.Popen(
        [*POOLPIPE, *args, "--processes", str(processes)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)


def _stop_mid_write(
    tmp_path: Path, stop: Callable[[int], None]
) -> tuple[int, str, set[int], Path, bytes]:
    """Run 12 big copies with 2 workers, call stop(pid of the run) once both write, and wait
    for the run to end: its exit code, its stderr, the workers it had, its root and data."""
    manifest, root, data = _big_copies(tmp_path, 12, 8 << 20)
    workers: set[int] = set()
    with _cli_run(manifest, root, tmp_path / "results.tsv", processes=2) as proc:

        def writing() -> bool:
            workers.update(children(proc.pid))
            started = len(workers) == 2 and bool(_temporaries(root / "out"))
            return started or proc.poll() is not None

        assert wait_until(writing, step=0.001)
        assert proc.poll() is None, "the run ended before a write could be caught"
        stop(proc.pid)
        _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr, workers, root, data


def _temporaries(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.endswith(".tmp")]


def _assert_never_half_written(root: Path, data: bytes, copies: int) -> None:
    for i in range(copies):
        content = (root / "out" / f"copy-{i}.bin").read_bytes()
        assert content in (b"old\n", data), f"copy-{i}.bin is half written"


def test_a_worker_killed_mid_write_leaves_no_half_written_file(tmp_path: Path) -> None:
    """Freeze the worker (SIGSTOP) while its temporary file exists, i.e. before the rename,
    check the target still holds its old bytes, then SIGKILL it."""
    copies = 12
    manifest, root, data = _big_copies(tmp_path, copies, 16 << 20)
    frozen: list[str] = []
    with _cli_run(manifest, root, tmp_path / "results.tsv", processes=1) as proc:
        workers: set[int] = set()

        def caught() -> bool:
            workers.update(children(proc.pid))
            if not workers or not _temporaries(root / "out") or proc.poll() is not None:
                return proc.poll() is not None
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            still = _temporaries(root / "out")  # the worker cannot rename it any more
            if still:
                frozen.extend(still)
                return True
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
            return False

        assert wait_until(caught, step=0.001)
        assert frozen, "the run ended before a write could be caught"
        target = frozen[0].split(".")[1]  # ".copy-3.<random>.tmp"
        assert (root / "out" / f"{target}.bin").read_bytes() == b"old\n"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    line = int(target.split("-")[1]) + 1
    assert proc.returncode == 1, stderr
    assert stderr.splitlines() == [
        f"poolpipe: error: task worker process {min(workers)} died with signal SIGKILL while "
        f"running manifest line {line} (copy 'big.bin' to 'out/{target}.bin')"
    ]
    assert stdout == ""
    assert not (tmp_path / "results.tsv").exists()
    assert _temporaries(root / "out") == []  # the parent removed the dead worker's leftover
    _assert_never_half_written(root, data, copies)
    assert not [pid for pid in workers if alive(pid)]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_write_stops_every_worker_and_leaves_nothing_half_done(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    returncode, stderr, workers, root, data = _stop_mid_write(
        tmp_path, lambda pid: os.kill(pid, sig)
    )
    assert returncode == code, stderr
    assert stderr.splitlines() == [f"poolpipe: stopped by {sig.name}"]
    assert len(workers) == 2
    assert not [pid for pid in workers if alive(pid)]
    assert _temporaries(root / "out") == []  # each stopped worker removed its own
    assert not (tmp_path / "results.tsv").exists()
    _assert_never_half_written(root, data, 12)


def test_a_sigterm_to_the_process_group_is_reported_as_a_stop(tmp_path: Path) -> None:
    """As from `timeout` or a batch system: the workers get it too; the run says it was stopped."""
    returncode, stderr, workers, root, data = _stop_mid_write(
        tmp_path, lambda pid: os.killpg(pid, signal.SIGTERM)
    )
    assert returncode == 143, stderr
    assert stderr.splitlines() == ["poolpipe: stopped by SIGTERM"]
    assert not [pid for pid in workers if alive(pid)]
    assert _temporaries(root / "out") == []
    _assert_never_half_written(root, data, 12)


def test_an_idle_worker_that_dies_fails_the_run_without_hanging(tmp_path: Path) -> None:
    """Copies to one target run one at a time, so one worker is busy and the other waits on
    the queue: SIGKILL the waiting one. The run fails naming that worker; nothing hangs."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(1 << 20) * 8)
    # the first two copies run at once, so both workers start; the rest wait for each other
    tasks = [{"op": "copy", "src": "big.bin", "path": "other.bin"}]
    tasks += [{"op": "copy", "src": "big.bin", "path": "same.bin"}] * 40
    manifest = _manifest(tmp_path / "manifest.jsonl", tasks)
    with _cli_run(manifest, root, tmp_path / "results.tsv", processes=2) as proc:
        workers: set[int] = set()

        def one_writing() -> bool:
            workers.update(children(proc.pid))
            return (len(workers) == 2 and bool(_temporaries(root))) or proc.poll() is not None

        assert wait_until(one_writing, step=0.001)
        assert proc.poll() is None, "the run ended before a write could be caught"
        busy = {p for p in workers if any(".tmp" in f.path for f in psutil.Process(p).open_files())}
        victim = min(workers - busy) if workers - busy else min(workers)
        os.kill(victim, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert stderr.startswith(
        f"poolpipe: error: task worker process {victim} died with signal SIGKILL while "
    )
    assert "while idle or taking its next task" in stderr or "(copy 'big.bin'" in stderr
    assert not [pid for pid in workers if alive(pid)]
    assert _temporaries(root) == []
    assert not (tmp_path / "results.tsv").exists()


def test_the_cli_writes_results_and_prints_counts(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    demo = subprocess.run(
        [*POOLPIPE, "demo-tasks", str(base / "m.jsonl"), str(base / "root"), "--tasks", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    args = ["tasks", str(base / "m.jsonl"), "--root", str(base / "root")]
    run = subprocess.run(
        [*POOLPIPE, *args, "--out", str(base / "results.tsv"), "--processes", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == json.loads(run.stdout)["failed"] == 12, run.stderr
    counts = json.loads(run.stdout)
    rows = (base / "results.tsv").read_text().splitlines()[1:]
    assert counts["tasks"] == len(rows) == 20 + len(REFUSED) + 4
    assert counts["failed"] == sum(r.split("\t")[3] == "false" for r in rows)
    again = subprocess.run(
        [*POOLPIPE, "demo-tasks", str(base / "m.jsonl"), str(base / "root")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 1
    assert again.stderr.strip().endswith("exists and is not an empty folder")
