"""The tasks stage's fault catalogue: bad manifests and hostile task paths, each run through
the real `poolpipe tasks` command, each with its exact outcome (exit status, the one sentence
on stderr, the rows of results.tsv, and no partial or temporary file left behind)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from poolpipe.errors import PoolpipeError
from poolpipe.tasks import write_demo
from poolpipe.tasks.manifest import MAX_LINE
from poolpipe.tasks.ops import _blocks
from poolpipe.tasks.root import MAX_DEPTH, MAX_PATH_BYTES

from ..helpers import run_poolpipe, wait_until

POOLPIPE = str(Path(sys.executable).with_name("poolpipe"))
MEMORY_LIMIT = 1 << 30
"""Address space a run over a huge or endless input gets: a regression fails, not the machine."""

OVER_LIMIT = MEMORY_LIMIT + (64 << 20)
"""Bytes in the one line of the huge inputs: more than the run may hold."""

HEADER = "line\top\tpath\tok\tbytes\tsha256\terror\tattempts\tstart\truntime_s\tworker\ttask_hash"
OUTCOME = 7
"""The columns that say what a task did; those after it say how (attempts, times, worker)."""
ESC = "\\\\ud800"
"""A lone surrogate as results.tsv shows it: its escape, its backslash escaped."""
X_SHA = hashlib.sha256(b"x").hexdigest()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    rows: list[str] | None


def _tasks(tmp_path: Path, manifest: str | Path, *, processes: int = 2) -> Run:
    """Run `poolpipe tasks` on manifest with root tmp_path/root and out tmp_path/out/results.tsv."""
    root, out = tmp_path / "root", tmp_path / "out"
    root.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    done = subprocess.run(
        [POOLPIPE, "tasks", str(manifest), "--root", str(root), "--out", str(out / "results.tsv")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        check=False,
    )
    left = sorted(p.name for p in out.iterdir())
    assert left in ([], ["results.tsv"]), left
    assert not [p for p in root.rglob("*.tmp")]
    assert "Traceback" not in done.stderr
    text = (out / "results.tsv").read_text(encoding="utf-8") if left else None
    rows = text.splitlines() if text is not None else None
    if rows is not None:
        assert rows[0] == HEADER
        rows = ["\t".join(row.split("\t")[:OUTCOME]) for row in rows[1:]]
        failed = sum(row.split("\t")[3] == "false" for row in rows)
        assert done.returncode == min(failed, 101), "the exit status is the failed tasks' count"
    return Run(done.returncode, done.stdout, done.stderr, rows)


def _lines(path: Path, *items: dict | str | bytes) -> Path:
    with path.open("wb") as fh:
        for item in items:
            if isinstance(item, dict):
                item = json.dumps(item)
            fh.write((item if isinstance(item, bytes) else item.encode()) + b"\n")
    return path


def _ok(line: int, op: str, path: str) -> str:
    return f"{line}\t{op}\t{path}\ttrue\t1\t{X_SHA}\t"


def _refused(line: int, error: str, op: str = "", path: str = "") -> str:
    return f"{line}\t{op}\t{path}\tfalse\t\t\t{error}"


WRITE_A = {"op": "write", "path": "a.txt", "content": "x"}
READ_A = {"op": "read", "path": "a.txt"}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- family 1: no limit on a manifest line ---------------------------------------------------


def test_dev_zero_is_refused_in_one_sentence_within_bounded_memory(tmp_path: Path) -> None:
    run = _tasks(tmp_path, "/dev/zero")
    assert (run.rc, run.rows) == (1, None)
    assert run.stderr == (
        "poolpipe: error: task manifest '/dev/zero' is not a regular file or a pipe\n"
    )


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (
            gzip.compress(b'{"op":"read","path":"a.txt"}\n', mtime=0),
            "gzip-compressed (decompress it first)",
        ),
        ('{"op":"read","path":"a.txt"}\n'.encode("utf-16"), "UTF-16 text (save it as UTF-8)"),
        (b'{"op":"read","path":"a.txt"}\r{}\r', "text with CR-only line ends (save it with LF"),
    ],
)
def test_a_manifest_that_is_not_text_is_refused_in_one_sentence(
    tmp_path: Path, data: bytes, what: str
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(data)
    run = _tasks(tmp_path, manifest)
    assert (run.rc, run.rows) == (1, None)
    said = f"poolpipe: error: task manifest '{manifest}' cannot be read as lines: it is {what}"
    assert run.stderr.startswith(said) and run.stderr.count("\n") == 1


def test_a_line_far_over_the_limit_is_an_error_row_within_bounded_memory(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    _lines(manifest, WRITE_A)
    with manifest.open("r+b") as fh:  # a sparse line of NULs, over the memory limit
        fh.truncate(manifest.stat().st_size + OVER_LIMIT)
    with manifest.open("ab") as fh:
        fh.write(b"\n" + json.dumps(READ_A).encode() + b"\n")
    run = _tasks(tmp_path, manifest)
    assert run.rc == 1, run.stderr
    assert run.rows == [
        _ok(1, "write", "a.txt"),
        _refused(2, f"the line is longer than {MAX_LINE >> 20} MiB"),
        _ok(3, "read", "a.txt"),
    ]


def test_an_endless_line_through_a_pipe_is_skipped_within_bounded_memory(tmp_path: Path) -> None:
    fifo = tmp_path / "manifest.fifo"
    os.mkfifo(fifo)
    feed = f"head -c {OVER_LIMIT} /dev/zero; echo; echo '{json.dumps(WRITE_A)}'"
    producer = subprocess.Popen(["sh", "-c", f'({feed}) > "$1"', "sh", str(fifo)])
    try:
        run = _tasks(tmp_path, fifo)
    finally:
        producer.kill()
        producer.wait(timeout=60)
    assert run.rc == 1, run.stderr
    assert run.rows == [
        _refused(1, f"the line is longer than {MAX_LINE >> 20} MiB"),
        _ok(2, "write", "a.txt"),
    ]


def test_a_line_of_exactly_the_limit_runs_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    frame = len(json.dumps({"op": "write", "path": "big.txt", "content": ""})) + 1
    content = "x" * (MAX_LINE - frame)
    fits = {"op": "write", "path": "big.txt", "content": content}
    over = {"op": "write", "path": "over.txt", "content": content + "x"}
    run = _tasks(tmp_path, _lines(tmp_path / "m.jsonl", fits, over))
    assert run.rc == 1, run.stderr
    sha = hashlib.sha256(content.encode()).hexdigest()
    assert run.rows == [
        f"1\twrite\tbig.txt\ttrue\t{len(content)}\t{sha}\t",
        _refused(2, "the line is longer than 4 MiB"),
    ]
    assert _files(tmp_path / "root") == ["big.txt"]


@pytest.mark.parametrize("pseudo", ["/proc/sys/kernel/pid_max", "/proc/kmsg"])
def test_a_pseudo_file_that_reports_size_0_is_refused_without_a_read(
    tmp_path: Path, pseudo: str
) -> None:
    # as every other input is; /proc/kmsg's read would wait for the kernel's next message
    if not os.access(pseudo, os.R_OK):
        pytest.skip(f"{pseudo} cannot be read here")
    (tmp_path / "root").mkdir()
    done = _cli(pseudo, "--root", tmp_path / "root", "--out", tmp_path / "r.tsv")
    _one_sentence(
        done,
        f"task manifest '{pseudo}' reports size 0 but is not empty (a /proc-like file): copy "
        "it to a regular file first",
    )


def test_a_read_that_would_wait_is_an_error_not_the_files_end() -> None:
    # root.open_file opens without waiting; a file with no bytes yet (/proc/kmsg) then reads
    # as None, once taken for its end (an empty file, a "done" row)
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        with pytest.raises(ValueError, match="would make its reader wait"):
            list(_blocks(read_end))
    finally:
        os.close(write_end)


# --- family 2: one bad line never aborts a run whose earlier tasks changed files -------------

BAD_LINES = [
    ("[" * 1000, _refused(2, "the line is not valid JSON (nested too deeply)")),
    ('{"a":' * 100_000, _refused(2, "the line is not valid JSON (nested too deeply)")),
    (
        '{"op":"write","path":"\\ud800.txt","content":"x"}',
        _refused(2, "the path is not valid Unicode text", "write", f"{ESC}.txt"),
    ),
    (
        '{"op":"\\ud800","path":"b.txt"}',
        _refused(2, f"unknown op '{ESC}' (one of read, write, copy, checksum)", ESC, "b.txt"),
    ),
    (
        '{"op":"copy","src":"\\udfff","path":"c.txt"}',
        _refused(2, "the path is not valid Unicode text", "copy", "c.txt"),
    ),
    (
        '{"op":"read","path":"a.txt","\\ud800":1}',
        _refused(2, f"unknown key '{ESC}'", "read", "a.txt"),
    ),
    (
        '{"op":"write","path":"d.txt","content":"\\ud800"}',
        _refused(2, "'content' is not valid Unicode text", "write", "d.txt"),
    ),
    (
        '{"op":"read","path":"a.txt","src":' + "9" * 5000 + "}",
        _refused(2, "the line is not valid JSON (a number of over 4300 digits)"),
    ),
    (b'{"op":"read","path":"\xff"}', _refused(2, "the line is not UTF-8 text")),
    (b"\xff\xfe{}x", _refused(2, "the line is not UTF-8 text")),  # json.loads read UTF-16
    ('{"op":"write","path":"nul\\u0000.txt","content":"x"}', None),
]


@pytest.mark.parametrize(("line", "row"), BAD_LINES, ids=range(len(BAD_LINES)))
def test_a_bad_line_is_an_error_row_and_every_task_is_reported(
    tmp_path: Path, line: str | bytes, row: str | None
) -> None:
    run = _tasks(tmp_path, _lines(tmp_path / "m.jsonl", WRITE_A, line, READ_A))
    assert run.rc == 1, run.stderr
    assert json.loads(run.stdout) == {"tasks": 3, "ok": 2, "failed": 1, "bytes": 2}
    assert run.rows is not None
    assert run.rows[0] == _ok(1, "write", "a.txt")
    assert run.rows[2] == _ok(3, "read", "a.txt")
    if row is not None:
        assert run.rows[1] == row
    else:
        assert run.rows[1].split("\t")[3:] == ["false", "", "", "the path contains a NUL character"]
    assert _files(tmp_path / "root") == ["a.txt"]


# --- family 12c: a write may not build an endless tree of folders ----------------------------


def test_a_path_3000_folders_deep_is_refused_and_makes_no_folder(tmp_path: Path) -> None:
    deep = "/".join(["d"] * 3000) + "/x.txt"
    shallow_but_deep = "/".join(["d"] * (MAX_DEPTH + 1)) + "/x.txt"
    at_limit = "/".join(["d"] * MAX_DEPTH) + "/x.txt"
    long_name = "n" * 300
    manifest = _lines(
        tmp_path / "m.jsonl",
        {"op": "write", "path": deep, "content": "x"},
        {"op": "write", "path": shallow_but_deep, "content": "x"},
        {"op": "write", "path": "p" * (MAX_PATH_BYTES + 1), "content": "x"},
        {"op": "write", "path": long_name, "content": "x"},
        {"op": "write", "path": at_limit, "content": "x"},
    )
    run = _tasks(tmp_path, manifest)
    assert run.rc == 4, run.stderr
    too_deep = f"the path lies more than {MAX_DEPTH} folders below the root"
    assert run.rows == [
        _refused(1, f"the path is longer than {MAX_PATH_BYTES} bytes", "write", deep),
        _refused(2, too_deep, "write", shallow_but_deep),
        _refused(3, f"the path is longer than {MAX_PATH_BYTES} bytes", "write", "p" * 4097),
        _refused(4, "File name too long", "write", long_name),
        _ok(5, "write", at_limit),
    ]
    deepest = max(len(Path(p).parts) for p in _files(tmp_path / "root"))
    assert deepest == MAX_DEPTH + 1


def test_symlinks_cannot_lead_deeper_than_the_limit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    below = root.joinpath(*["a"] * (MAX_DEPTH - 2))
    below.mkdir(parents=True)
    os.symlink("/".join(["a"] * (MAX_DEPTH - 2)), root / "s")
    deeper = "s/1/2/3/x.txt"
    manifest = _lines(
        tmp_path / "m.jsonl",
        {"op": "write", "path": "s/1/x.txt", "content": "x"},
        {"op": "write", "path": deeper, "content": "x"},
    )
    before = _files(root)
    run = _tasks(tmp_path, manifest)
    assert run.rc == 1, run.stderr
    assert run.rows == [
        _ok(1, "write", "s/1/x.txt"),
        _refused(
            2,
            f"the path lies more than {MAX_DEPTH} folders below the root",
            "write",
            "s/1/2/3/x.txt",
        ),
    ]
    made = sorted(set(_files(root)) - set(before))
    assert [p.split("/")[-2:] for p in made] == [["a", "1"], ["1", "2"], ["1", "x.txt"]]


# --- the demo writer: settings outside the schema's ranges -----------------------------------

DEMO_REFUSED = [
    (["--seed", "-1"], "argument --seed: must be at least 0, not -1"),
    (["--tasks", "-5"], "argument --tasks: must be at least 0, not -5"),
    (["--files", "1"], "argument --files: must be at least 2, not 1"),
    (["--files", "100001"], "argument --files: must be at most 100000, not 100001"),
    (["--tasks", "1000001"], "argument --tasks: must be at most 1000000, not 1000001"),
]


@pytest.mark.parametrize(("args", "sentence"), DEMO_REFUSED, ids=range(len(DEMO_REFUSED)))
def test_a_demo_setting_out_of_range_is_one_sentence_and_writes_nothing(
    tmp_path: Path, args: list[str], sentence: str
) -> None:
    command = [POOLPIPE, "demo-tasks", str(tmp_path / "m.jsonl"), str(tmp_path / "root"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == f"poolpipe demo-tasks: error: {sentence}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("setting", "sentence"),
    [
        ({"seed": -1}, "demo tasks setting seed must be from 0 to 9223372036854775806, not -1"),
        ({"files": 1}, "demo tasks setting files must be from 2 to 100000, not 1"),
        ({"tasks": 10**7}, "demo tasks setting tasks must be from 0 to 1000000, not 10000000"),
    ],
)
def test_the_demo_writer_refuses_a_setting_outside_the_schema(
    tmp_path: Path, setting: dict[str, int], sentence: str
) -> None:
    settings = {"files": 20, "tasks": 200, "seed": 42, **setting}
    with pytest.raises(PoolpipeError) as refused:
        write_demo(tmp_path / "m.jsonl", tmp_path / "root", **settings)
    assert str(refused.value) == sentence
    assert list(tmp_path.iterdir()) == []


# --- second review: outputs over inputs, links, temporaries, limits, full disks --------------


def _cli(*args: str | Path, limit_file_size: int | None = None) -> subprocess.CompletedProcess:
    """Run `poolpipe tasks ARGS`, under `ulimit -f` (bytes) if asked."""

    def limits() -> None:
        _limit_memory()
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    done = run_poolpipe(
        "tasks",
        *args,
        preexec_fn=limits,
        # no bytecode written on import: under the limit, a large .pyc would be the failure
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert "Traceback" not in done.stderr
    return done


def _one_sentence(done: subprocess.CompletedProcess, sentence: str) -> None:
    assert (done.returncode, done.stderr) == (1, f"poolpipe: error: {sentence}\n")


def test_family_1_an_output_that_is_the_manifest_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    manifest = _lines(tmp_path / "m.jsonl", WRITE_A)
    before = manifest.read_bytes()
    done = _cli(manifest, "--root", root, "--out", manifest)
    _one_sentence(
        done,
        f"results file '{manifest}' is the same file as task manifest '{manifest}': "
        "choose another path",
    )
    os.symlink(manifest, tmp_path / "link.tsv")
    done = _cli(manifest, "--root", root, "--out", tmp_path / "link.tsv")
    assert done.returncode == 1 and "is the same file as task manifest" in done.stderr
    journal_named = _lines(tmp_path / "res.tsv.journal", WRITE_A)
    done = _cli(journal_named, "--root", root, "--out", tmp_path / "res.tsv")
    _one_sentence(
        done,
        f"journal '{journal_named}' is the same file as task manifest '{journal_named}': "
        "choose another path",
    )
    assert manifest.read_bytes() == before and journal_named.read_bytes() == before
    assert _files(root) == []


def test_family_4_a_journal_path_holding_a_symlink_is_refused_and_its_target_kept(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    precious = tmp_path / "precious"
    precious.write_text("KEEP ME\n")
    os.symlink(precious, tmp_path / "res.tsv.journal")
    manifest = _lines(tmp_path / "m.jsonl", WRITE_A)
    for resume in ([], ["--resume"]):
        done = _cli(manifest, "--root", root, "--out", tmp_path / "res.tsv", *resume)
        _one_sentence(
            done,
            f"journal '{tmp_path}/res.tsv.journal' exists and is a symlink: move it away or "
            "choose another --out",
        )
    assert precious.read_text() == "KEEP ME\n"
    assert not (tmp_path / "res.tsv").exists() and _files(root) == []


def test_family_4_a_users_file_at_the_journal_path_is_never_truncated(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "res.tsv.journal").write_text("my notes\n")
    done = _cli(
        _lines(tmp_path / "m.jsonl", WRITE_A), "--root", root, "--out", tmp_path / "res.tsv"
    )
    _one_sentence(
        done,
        f"journal '{tmp_path}/res.tsv.journal' exists and is not a journal of poolpipe: move it "
        "away or choose another --out",
    )
    assert (tmp_path / "res.tsv.journal").read_text() == "my notes\n"


def test_family_4_resume_removes_no_file_it_did_not_create(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / ".a.txt.keep.tmp").write_text("a user's file\n")
    other = {"op": "write", "path": ".a.txt.x.tmp", "content": "another task's output\n"}
    manifest = _lines(tmp_path / "m.jsonl", other, WRITE_A)
    out = tmp_path / "res.tsv"
    done = _cli(manifest, "--root", root, "--out", out, "--resume")  # nothing to resume: all run
    assert done.returncode == 0, done.stderr
    out.unlink()
    done = _cli(manifest, "--root", root, "--out", out, "--resume")  # runs a.txt again, checked
    assert done.returncode == 0, done.stderr
    assert (root / ".a.txt.keep.tmp").read_text() == "a user's file\n"
    assert (root / ".a.txt.x.tmp").read_text() == "another task's output\n"
    rows = [r.split("\t")[:4] for r in out.read_text().splitlines()[1:]]
    assert rows == [["1", "write", ".a.txt.x.tmp", "true"], ["2", "write", "a.txt", "true"]]


def test_family_4_an_out_inside_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    steal = {"op": "write", "path": "res.tsv.journal", "content": "mine\n"}
    done = _cli(_lines(tmp_path / "m.jsonl", steal), "--root", root, "--out", root / "res.tsv")
    _one_sentence(
        done,
        f"results file '{root}/res.tsv' lies inside the task root '{root}', where the tasks "
        "write: choose a path outside the root",
    )
    assert _files(root) == []


def test_family_5_resume_in_another_root_is_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    manifest = _lines(tmp_path / "m.jsonl", WRITE_A)
    out = tmp_path / "res.tsv"
    assert _cli(manifest, "--root", first, "--out", out).returncode == 0
    before = out.read_bytes()
    done = _cli(manifest, "--root", second, "--out", out, "--resume")
    _one_sentence(
        done,
        f"'{out}' records another task at manifest line 1: it belongs to another manifest or "
        "another task root (run without --resume to start again)",
    )
    assert out.read_bytes() == before and _files(second) == []


def test_family_5_resume_runs_again_a_task_whose_file_changed_with_size_and_time_kept(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("x")
    manifest = _lines(tmp_path / "m.jsonl", READ_A)
    out = tmp_path / "res.tsv"
    assert _cli(manifest, "--root", root, "--out", out).returncode == 0
    old = out.read_text().splitlines()[1].split("\t")
    mtime = (root / "a.txt").stat().st_mtime_ns
    (root / "a.txt").write_text("y")
    os.utime(root / "a.txt", ns=(mtime, mtime))
    done = _cli(manifest, "--root", root, "--out", out, "--resume")
    assert done.returncode == 0, done.stderr
    assert "1 tasks recorded done ran again" in done.stderr
    new = out.read_text().splitlines()[1].split("\t")
    assert old[5] == hashlib.sha256(b"x").hexdigest()
    assert new[5] == hashlib.sha256(b"y").hexdigest()


def test_family_10_a_one_line_manifest_starts_one_worker_however_many_are_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from poolpipe.tasks import run_to_file
    from poolpipe.tasks.workers import Workers

    started = []
    spawn = Workers._spawn

    def counted(self: Workers, index: int):
        started.append(index)
        return spawn(self, index)

    monkeypatch.setattr(Workers, "_spawn", counted)
    root = tmp_path / "root"
    root.mkdir()
    summary = run_to_file(
        _lines(tmp_path / "m.jsonl", WRITE_A), root, tmp_path / "res.tsv", processes=512
    )
    assert (summary.ok, started) == (1, [0])
    run = _tasks(tmp_path, _lines(tmp_path / "n.jsonl", READ_A), processes=512)
    assert run.rows == [_ok(1, "read", "a.txt")]


def test_family_12_a_trailing_slash_is_refused_and_makes_no_file(tmp_path: Path) -> None:
    manifest = _lines(
        tmp_path / "m.jsonl",
        {"op": "write", "path": "dir/", "content": "x"},
        {"op": "write", "path": "dir/.", "content": "x"},
        {"op": "copy", "src": "a.txt", "path": "d2/"},
        WRITE_A,
    )
    run = _tasks(tmp_path, manifest)
    slash = "the path ends with '/', so it names a folder, not a file"
    assert run.rows == [
        _refused(1, slash, "write", "dir/"),
        _refused(2, slash, "write", "dir/."),
        _refused(3, slash, "copy", "d2/"),
        _ok(4, "write", "a.txt"),
    ]
    assert _files(tmp_path / "root") == ["a.txt"]


def test_family_12_a_root_given_as_a_symlink_takes_absolute_paths_through_it(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.txt").write_text("x")
    link = tmp_path / "link"
    os.symlink(real, link)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    manifest = _lines(
        tmp_path / "m.jsonl",
        {"op": "read", "path": f"{link}/a.txt"},
        {"op": "read", "path": f"{real}/a.txt"},
        {"op": "read", "path": str(outside)},
        {"op": "write", "path": f"{link}/b.txt", "content": "x"},
    )
    done = _cli(manifest, "--root", link, "--out", tmp_path / "res.tsv")
    assert done.returncode == 1, done.stderr
    rows = [r.split("\t")[3:7] for r in (tmp_path / "res.tsv").read_text().splitlines()[1:]]
    assert rows == [
        ["true", "1", X_SHA, ""],
        ["true", "1", X_SHA, ""],
        ["false", "", "", "an absolute path outside the root is refused"],
        ["true", "1", X_SHA, ""],
    ]
    assert (real / "b.txt").read_text() == "x"


def test_family_3_a_copy_over_the_file_size_limit_is_its_row_and_the_run_ends(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(b"\xff" * (2 << 20))
    manifest = _lines(
        tmp_path / "m.jsonl",
        {"op": "copy", "src": "big.bin", "path": "copy.bin"},
        WRITE_A,
        {"op": "copy", "src": "big.bin", "path": "again.bin"},
        READ_A,
    )
    out = tmp_path / "res.tsv"
    done = _cli(manifest, "--root", root, "--out", out, "--retries", "2", limit_file_size=1 << 20)
    assert done.returncode == 2, done.stderr
    rows = [r.split("\t") for r in out.read_text().splitlines()[1:]]
    assert [[r[3], r[6], r[7]] for r in rows] == [
        ["false", "File too large", "1"],
        ["true", "", "1"],
        ["false", "File too large", "1"],
        ["true", "", "1"],
    ]
    assert _files(root) == ["a.txt", "big.bin"]  # no partial copy under any name


def test_family_3_results_over_the_file_size_limit_are_one_sentence_and_no_partial_file(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    writes = [{"op": "write", "path": f"f{i:03d}.txt", "content": "x"} for i in range(200)]
    manifest = _lines(tmp_path / "m.jsonl", *writes)
    out = tmp_path / "res.tsv"
    assert _cli(manifest, "--root", root, "--out", out).returncode == 0
    before = out.read_bytes()
    assert len(before) > 16 << 10
    # resumed, nothing runs and the journal stays small, but the results are rewritten whole
    done = _cli(manifest, "--root", root, "--out", out, "--resume", limit_file_size=16 << 10)
    _one_sentence(done, f"'{out}' cannot be written: File too large")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl", "res.tsv", "root"]


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 256 KiB tmpfs (root only), unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"no tmpfs: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False, timeout=60)


def _fill(folder: Path) -> None:
    """Fill the file system of folder to its last byte."""
    with (
        (folder / "filler").open("wb", buffering=0) as fh,
        pytest.raises(OSError, match="No space left"),
    ):
        for _ in range(1 << 20):
            fh.write(b"\0" * 4096)


def test_family_3_a_task_on_a_full_disk_is_its_row_and_the_run_ends(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    root = small_tmpfs
    (root / "a.txt").write_text("x")
    big = {"op": "write", "path": "big.txt", "content": "y" * (512 << 10)}
    manifest = _lines(tmp_path / "m.jsonl", big, READ_A)
    out = tmp_path / "res.tsv"
    done = _cli(manifest, "--root", root, "--out", out, "--retries", "1", "--backoff", "0.01")
    assert done.returncode == 1, done.stderr
    rows = [r.split("\t") for r in out.read_text().splitlines()[1:]]
    assert [[r[3], r[6], r[7]] for r in rows] == [
        ["false", "No space left on device", "2"],
        ["true", "", "1"],
    ]
    assert sorted(os.listdir(root)) == ["a.txt"]


def test_family_3_results_on_a_full_disk_are_one_sentence_and_no_partial_file(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _fill(small_tmpfs)
    out = small_tmpfs / "res.tsv"
    done = _cli(_lines(tmp_path / "m.jsonl", WRITE_A), "--root", root, "--out", out)
    assert done.returncode == 1 and done.stderr.startswith("poolpipe: error: "), done.stderr
    assert done.stderr.endswith("cannot be written: No space left on device\n")
    assert len(done.stderr.splitlines()) == 1
    assert sorted(os.listdir(small_tmpfs)) == ["filler"]


def test_family_2_previous_results_that_never_end_are_refused_within_bounded_memory(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    manifest = _lines(tmp_path / "m.jsonl", WRITE_A)
    out = tmp_path / "res.tsv"
    os.mkfifo(out)  # nobody writes it: reading it would wait forever
    done = _cli(manifest, "--root", root, "--out", out, "--resume")
    _one_sentence(done, f"--out '{out}' exists and is not a regular file")
    out.unlink()
    with out.open("wb") as fh:  # a header, then a sparse line of NULs over the memory limit
        fh.write(HEADER.encode() + b"\n")
        fh.truncate(len(HEADER) + 1 + OVER_LIMIT)
    done = _cli(manifest, "--root", root, "--out", out, "--resume")
    _one_sentence(done, f"'{out}' line 2 is not a results row")
    with out.open("r+b") as fh:
        fh.seek(0)
        fh.write(b"\0" * 16)
    done = _cli(manifest, "--root", root, "--out", out, "--resume")
    _one_sentence(done, f"'{out}' is not a results file of this version of poolpipe")
    assert _files(root) == []


def test_family_4_a_journal_killed_in_its_header_is_ours_and_replaced(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "res.tsv.journal").write_text(HEADER[:9])  # killed while the header went out
    done = _cli(
        _lines(tmp_path / "m.jsonl", WRITE_A),
        "--root",
        root,
        "--out",
        tmp_path / "res.tsv",
        "--resume",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl", "res.tsv", "root"]


def test_a_signal_ends_the_wait_for_a_pipe_manifest_that_no_one_writes(tmp_path: Path) -> None:
    fifo = tmp_path / "m.fifo"
    os.mkfifo(fifo)
    (tmp_path / "root").mkdir()
    poolpipe = str(Path(sys.executable).with_name("poolpipe"))
    cmd = [poolpipe, "tasks", str(fifo), "--root", str(tmp_path / "root"), "--out", "r.tsv"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        # blocked in the pipe's open, waiting for a writer (the kernel's own word for it)
        wchan = Path(f"/proc/{proc.pid}/wchan")
        assert wait_until(lambda: wchan.read_text() == "wait_for_partner", timeout=60)
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert (proc.returncode, stderr) == (143, "poolpipe: stopped by SIGTERM\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fifo", "root"]


def _silent_writer(tmp_path: Path, line: str, *args: str) -> tuple[subprocess.Popen, int]:
    """`poolpipe tasks` on a pipe whose writer (this test) sends line and then says nothing
    while keeping the pipe open; the command and the writer's descriptor."""
    fifo = tmp_path / "m.fifo"
    os.mkfifo(fifo)
    (tmp_path / "root").mkdir(exist_ok=True)
    poolpipe = str(Path(sys.executable).with_name("poolpipe"))
    cmd = [poolpipe, "tasks", str(fifo), "--root", str(tmp_path / "root"), "--out", "r.tsv"]
    proc = subprocess.Popen([*cmd, *args], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    writer = os.open(fifo, os.O_WRONLY)  # waits for the command's open
    os.write(writer, line.encode() + b"\n")
    return proc, writer


def test_a_signal_ends_a_run_whose_pipe_writer_is_silent(tmp_path: Path) -> None:
    proc, writer = _silent_writer(tmp_path, '{"op":"write","path":"a.txt","content":"hi"}')
    try:
        assert wait_until(lambda: (tmp_path / "root/a.txt").exists(), timeout=60)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)  # the pipe is still open: no end of file
    finally:
        proc.kill()
        proc.wait(timeout=30)
        os.close(writer)
    assert (proc.returncode, stderr) == (130, "poolpipe: stopped by SIGINT\n")


def test_a_tasks_timeout_holds_while_a_pipe_writer_is_silent(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with (root / "sparse").open("wb") as fh:
        fh.truncate(1 << 40)  # a checksum that runs far past its timeout
    checksum = '{"op":"checksum","path":"sparse"}'
    proc, writer = _silent_writer(tmp_path, checksum, "--timeout", "1", "--retries", "0")
    journal = tmp_path / "r.tsv.journal"
    try:
        ended = wait_until(
            lambda: journal.exists() and "ran over its timeout" in journal.read_text(),
            timeout=60,
        )
    finally:
        os.close(writer)
        proc.communicate(timeout=60)
    assert ended, "no timeout row while the pipe stayed open"
    assert proc.returncode == 1
    rows = (tmp_path / "r.tsv").read_text().splitlines()
    assert len(rows) == 2 and "the task ran over its timeout of 1 s" in rows[1]


def test_no_task_replaces_the_manifest_being_run(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    manifest = root / "m.jsonl"
    text = (
        '{"op":"write","path":"m.jsonl","content":"gone\\n"}\n'
        '{"op":"copy","src":"other.txt","path":"link"}\n'
        '{"op":"write","path":"other.txt","content":"kept"}\n'
    )
    manifest.write_text(text)
    (root / "link").symlink_to("m.jsonl")
    (root / "other.txt").write_text("x")
    run = _tasks(tmp_path, manifest)
    said = "is the task manifest being run, which no task replaces"
    assert run.rows is not None and [r.split("\t")[6] for r in run.rows] == [
        f"'m.jsonl' {said}",
        f"'m.jsonl' {said}",
        "",
    ]
    assert manifest.read_text() == text and (root / "other.txt").read_text() == "kept"


@pytest.mark.parametrize(
    "argv",
    [
        ["tasks", "m.jsonl", "--root", "", "--out", "o.tsv"],
        ["demo-tasks", "d.jsonl", ""],
        ["report", "--results", ""],
        ["report", "--out", ""],
        ["supervise", "--log-dir", "", "--worker", "a::3"],
    ],
)
def test_an_empty_folder_option_is_refused_not_read_as_here(tmp_path, monkeypatch, capsys, argv):
    """An unset $ROOT made the current folder the only place tasks may write."""
    from poolpipe.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.jsonl").write_text('{"op": "write", "path": "a.txt", "content": "x"}\n')
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "an empty path; write . for the current folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]


def test_the_demo_with_one_path_for_manifest_and_root_writes_nothing(tmp_path: Path) -> None:
    run = run_poolpipe("demo-tasks", "same", "same", cwd=tmp_path)
    assert run.returncode == 1
    assert "root 'same' is the same file as manifest 'same'" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_demo_root_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    run = run_poolpipe("demo-tasks", "m.jsonl", "file/root", cwd=tmp_path)
    assert (run.returncode, run.stderr) == (
        1,
        "poolpipe: error: demo task root 'file/root' cannot be made: Not a directory\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_byte_order_mark_starting_the_manifest_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b'\xef\xbb\xbf{"op": "write", "path": "a.txt", "content": "x"}\n')
    run = run_poolpipe("tasks", str(manifest), "--root", str(root), "--out", str(tmp_path / "o"))
    assert run.returncode == 0, run.stderr
    assert (root / "a.txt").read_text() == "x"


def test_a_byte_order_mark_before_an_over_long_first_line_keeps_the_numbering(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    manifest = tmp_path / "m.jsonl"
    long = b'{"op": "write", "path": "a.txt", "content": "' + b"x" * MAX_LINE + b'"}\n'
    manifest.write_bytes(
        b"\xef\xbb\xbf" + long + b'{"op": "write", "path": "b.txt", "content": "y"}\n'
    )
    run = run_poolpipe("tasks", str(manifest), "--root", str(root), "--out", str(tmp_path / "o"))
    assert run.returncode == 1, run.stderr
    rows = [line.split("\t") for line in (tmp_path / "o").read_text().splitlines()[1:]]
    assert [(r[0], r[2], r[3]) for r in rows] == [("1", "", "false"), ("2", "b.txt", "true")]
