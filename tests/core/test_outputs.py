"""Outputs: every output path of every command checked before the work, through the real
`poolpipe` command; a failed write is one sentence and leaves no file; JSON is strict and holds
integers of any size."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from poolpipe import core
from poolpipe.core.bigints import decimal_to_int, int_to_decimal
from poolpipe.core.outputs import check_output_path, dumps_json, open_atomic, read_json
from poolpipe.errors import PoolpipeError
from tests.core.test_inputs import poolpipe

from ..helpers import one_sentence


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    """One small valid input per stage."""
    (tmp_path / "n.txt").write_text("1\n2\n")
    (tmp_path / "t.csv").write_text("x,y\n1,2\n2,4\n3,7\n")
    (tmp_path / "u.txt").write_text("http://127.0.0.1:9/\n")
    (tmp_path / "m.jsonl").write_text('{"op": "write", "path": "a.txt", "content": "x"}\n')
    (tmp_path / "root").mkdir()
    return {name: str(tmp_path / name) for name in ("n.txt", "t.csv", "u.txt", "m.jsonl", "root")}


def _commands(i: dict[str, str], bad: str) -> dict[str, tuple[list[str], str]]:
    """Every command with one output path set to bad, and the label its sentence gives."""
    return {
        "sum --timing": (["sum", i["n.txt"], "--timing", bad], "--timing"),
        "train --timing": (["train", i["t.csv"], "--target", "y", "--timing", bad], "--timing"),
        "crawl --out": (["crawl", i["u.txt"], "--out", bad], "--out"),
        "crawl --summary": (
            ["crawl", i["u.txt"], "--out", i["root"] + "/p.tsv", "--summary", bad],
            "--summary",
        ),
        "crawl --timing": (
            ["crawl", i["u.txt"], "--out", i["root"] + "/p.tsv", "--timing", bad],
            "--timing",
        ),
        "tasks --out": (["tasks", i["m.jsonl"], "--root", i["root"], "--out", bad], "--out"),
        "supervise --out": (["supervise", "--worker", "a:0.05:2", "--out", bad], "--out"),
        "demo-numbers": (["demo-numbers", bad, "--lines", "10"], "output"),
        "demo-train": (["demo-train", bad, "--rows", "10"], "output"),
        "demo-urls": (["demo-urls", bad], "output"),
        "demo-tasks": (["demo-tasks", bad, i["root"] + "/demo"], "output"),
    }


COMMANDS = list(_commands({k: "" for k in ("n.txt", "t.csv", "u.txt", "m.jsonl", "root")}, ""))


def _assert_no_work(tmp_path: Path) -> None:
    """The task root is untouched and no result or temporary file was left anywhere."""
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == []
    left = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or p.suffix == ".tsv"]
    assert left == []


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_path_that_is_a_folder(tmp_path, inputs, command):
    folder = tmp_path / "out"
    folder.mkdir()
    args, label = _commands(inputs, str(folder))[command]
    one_sentence(poolpipe(*args), f"{label} '{folder}' is a folder, not a file")
    _assert_no_work(tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", [".", "", "/"])
def test_an_output_path_that_names_no_file(tmp_path, inputs, command, bad):
    args, label = _commands(inputs, bad)[command]
    said = f"{label} is an empty path" if not bad else f"{label} {bad!r} is a folder, not a file"
    one_sentence(poolpipe(*args, cwd=tmp_path), said)
    _assert_no_work(tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", ["new/", "new/.", "new/.."])
def test_an_output_path_that_names_a_missing_folder(tmp_path, inputs, command, bad):
    args, label = _commands(inputs, bad)[command]
    one_sentence(poolpipe(*args, cwd=tmp_path), f"{label} {bad!r} names a folder, not a file")
    _assert_no_work(tmp_path)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_path_below_a_file(tmp_path, inputs, command):
    bad = f"{inputs['n.txt']}/x.out"
    args, label = _commands(inputs, bad)[command]
    one_sentence(poolpipe(*args), f"{label} '{bad}' cannot be written: '{inputs['n.txt']}' is")
    _assert_no_work(tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
def test_an_output_path_under_proc(tmp_path, inputs, command):
    bad = "/proc/self/poolpipe-out"
    args, label = _commands(inputs, bad)[command]
    one_sentence(poolpipe(*args), f"{label} '{bad}' cannot be written: ")
    _assert_no_work(tmp_path)


@pytest.mark.parametrize("command", ["sum --timing", "crawl --out", "demo-numbers"])
def test_an_output_path_that_is_a_device(tmp_path, inputs, command):
    args, label = _commands(inputs, "/dev/null")[command]
    one_sentence(poolpipe(*args), f"{label} '/dev/null' exists and is not a regular file")
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("command", ["sum --timing", "train --timing", "tasks --out"])
def test_an_output_path_in_a_read_only_folder(tmp_path, inputs, command):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chown(folder, 65534, 65534)
    folder.chmod(0o555)
    args, label = _commands(inputs, str(folder / "x.out"))[command]
    done = poolpipe(*args, unprivileged=True)
    one_sentence(done, f"{label} '{folder / 'x.out'}' cannot be written: Permission denied")
    assert list(folder.iterdir()) == []
    _assert_no_work(tmp_path)


def test_a_missing_output_folder_is_made(tmp_path, inputs):
    timing = tmp_path / "new" / "deeper" / "t.json"
    done = poolpipe("sum", inputs["n.txt"], "--timing", str(timing))
    assert done.returncode == 0, done.stderr
    assert read_json(timing)["items"] == 2


def test_check_output_path_accepts_a_file_to_be_replaced(tmp_path):
    target = tmp_path / "t.json"
    target.write_text("old")
    assert check_output_path(target) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO])
def test_a_failed_write_is_one_sentence_and_leaves_nothing(tmp_path, monkeypatch, code):
    def fail(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(PoolpipeError) as caught, open_atomic(tmp_path / "out.json") as fh:
        fh.write(b"x" * 100)
    assert str(caught.value) == f"'{tmp_path / 'out.json'}' cannot be written: {os.strerror(code)}"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_beside_an_open_folder_leaves_nothing(tmp_path, monkeypatch):
    def fail(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fail)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with (
            pytest.raises(PoolpipeError, match="No space left"),
            open_atomic("out.json", dir_fd=fd) as fh,
        ):
            fh.write(b"x")
    finally:
        os.close(fd)
    assert list(tmp_path.iterdir()) == []


def test_an_error_of_the_caller_keeps_its_own_type(tmp_path):
    with pytest.raises(KeyError), open_atomic(tmp_path / "out.json") as fh:
        fh.write(b"x")
        raise KeyError("mine")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_json_is_strict(value):
    with pytest.raises(PoolpipeError, match=r"the result's a\.b\[1\] is .*not a finite number"):
        dumps_json({"a": {"b": [1.0, value]}})


@pytest.mark.parametrize("value", [sys.float_info.max, -sys.float_info.max, 5e-324, -0.0])
def test_json_keeps_every_finite_float(value):
    assert json.loads(dumps_json({"a": value})) == {"a": value}


def test_json_holds_a_name_that_is_not_utf8_as_its_escapes():
    name = os.fsdecode(b"n\xff.txt")
    assert json.loads(dumps_json({"input": name, name: 1})) == {
        "input": "n\\udcff.txt",
        "n\\udcff.txt": 1,
    }


@pytest.mark.parametrize("stage", ["sum", "train", "train --summary", "predict"])
def test_an_input_named_in_bytes_that_are_not_utf8_is_printed_escaped(tmp_path, stage):
    name = os.fsdecode(b"in\xff")
    (tmp_path / name).write_text({"sum": "1\n2\n"}.get(stage, "x,y\n1,2\n2,4\n3,7\n"))
    (tmp_path / "t.csv").write_text("x,y\n1,2\n2,4\n3,7\n")
    if stage == "predict":
        (tmp_path / "m.json").write_text(
            poolpipe("train", "t.csv", "--target", "y", cwd=tmp_path).stdout
        )
    args = {
        "sum": ["sum", name],
        "train": ["train", name, "--target", "y"],
        "train --summary": ["train", name, "--target", "y", "--summary"],
        "predict": ["predict", "m.json", name, "--out", os.fsdecode(b"out\xff.csv")],
    }[stage]
    done = poolpipe(*args, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    if stage == "train --summary":
        assert "y on in\\udcff\n" in done.stdout
    else:
        assert json.loads(done.stdout)["input"] == "in\\udcff"


def test_read_json_refuses_nan(tmp_path):
    (tmp_path / "x.json").write_text('{"a": NaN}')
    with pytest.raises(PoolpipeError, match=r"x\.json' cannot be read: NaN is not JSON"):
        read_json(tmp_path / "x.json")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"a": 1', "cannot be read: Expecting ',' delimiter"),
        (b"[" * 100_000 + b"]" * 100_000, "cannot be read: it is nested too deeply"),
        (b'"\xff"', "cannot be read: it is not UTF-8"),
        (b"0" * ((1 << 20) + 1), "is larger than 1,048,576 bytes"),
    ],
)
def test_a_handed_json_file_that_is_damaged_is_one_sentence(tmp_path, content, why):
    (tmp_path / "part.json").write_bytes(content)
    with pytest.raises(PoolpipeError, match=rf"^sum part '.*part\.json' {why}"):
        read_json(tmp_path / "part.json", label="sum part", limit=1 << 20)


def test_a_handed_json_file_that_is_a_fifo_is_refused_unread(tmp_path):
    os.mkfifo(tmp_path / "part.json")
    with pytest.raises(PoolpipeError, match="is not a regular file"):
        read_json(tmp_path / "part.json")


def test_integers_of_any_size_round_trip_through_json(tmp_path):
    huge = 7 * 10**20000 + 123456789
    doc = {"n": -huge, "m": [huge, 5], "s": "\x00text\x00", "f": 0.5}
    text = dumps_json(doc)
    assert text.startswith('{\n  "n": -7' + "0" * 20)
    (tmp_path / "x.json").write_text(text)
    assert read_json(tmp_path / "x.json") == doc
    sys.set_int_max_str_digits(0)
    try:
        assert json.loads(text) == doc
    finally:
        sys.set_int_max_str_digits(4300)


@pytest.mark.parametrize("digits", [1, 2999, 3000, 3001, 4300, 9001, 65537])
def test_decimal_text_converts_exactly_both_ways(digits):
    text = ("9876543210" * (digits // 10 + 1))[:digits]
    value = decimal_to_int(text)
    assert value % 10**9 == int(text[-9:])
    assert value.bit_length() in range(int((digits - 1) * 3.3219), int(digits * 3.3220) + 2)
    assert int_to_decimal(value) == text
    assert int_to_decimal(-value) == "-" + text
    assert decimal_to_int("-" + text) == -value
    assert decimal_to_int(("+" + text).encode()) == value


def test_refuse_overlap_names_an_output_that_is_an_input(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("1\n")
    with pytest.raises(PoolpipeError, match=r"^--timing '.*in.txt' is the same file as input "):
        core.refuse_overlap(inputs={"input": data}, outputs={"--timing": data})
    assert data.read_text() == "1\n"


def test_refuse_overlap_sees_through_links(tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("1\n")
    (tmp_path / "soft").symlink_to(data)
    os.link(data, tmp_path / "hard")
    (tmp_path / "dir").symlink_to(tmp_path)
    for alias in ("soft", "hard", "dir/in.txt"):
        with pytest.raises(PoolpipeError, match="is the same file as input"):
            core.refuse_overlap(inputs={"input": data}, outputs={"--out": tmp_path / alias})


def test_refuse_overlap_names_two_outputs_on_one_path(tmp_path):
    with pytest.raises(PoolpipeError, match=r"^--summary '.*a' is the same file as --out '.*a'"):
        core.refuse_overlap(
            inputs={}, outputs={"--out": tmp_path / "a", "--summary": tmp_path / "a"}
        )


def test_refuse_overlap_lets_distinct_paths_and_none_through(tmp_path):
    core.refuse_overlap(
        inputs={"input": tmp_path / "a", "--previous": None},
        outputs={"--out": tmp_path / "b", "--timing": None},
    )


REAL_LIMIT = """\
import os, resource, sys
from poolpipe.core.outputs import open_atomic, write_stdout
from poolpipe.core.pool import pool_map
from poolpipe.errors import run_guarded

resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))


def main():
    where = sys.argv[1]
    if where == "stdout":
        write_stdout("x" * 100_000)
    elif where == "pool":
        list(pool_map(abs, range(3), 2))
    elif where == "dir_fd":
        with open_atomic("out.bin", dir_fd=os.open(".", os.O_RDONLY)) as fh:
            fh.write(b"x" * 100_000)
    else:
        with open_atomic(where) as fh:
            fh.write(b"x" * 100_000)
    return 0


sys.exit(run_guarded(main))
"""


@pytest.mark.parametrize(
    ("where", "limit", "sentence"),
    [
        ("out.bin", 65536, "'out.bin' cannot be written: File too large"),
        ("dir_fd", 65536, "'out.bin' cannot be written: File too large"),
        ("stdout", 65536, "standard output cannot be written: File too large"),
        (
            "pool",
            512,
            "the process pool cannot start: its shared memory cannot be made (File too large)",
        ),
    ],
)
def test_a_real_file_size_limit_is_one_sentence_and_leaves_nothing(
    tmp_path, where, limit, sentence
):
    """RLIMIT_FSIZE (`ulimit -f`) in a child: the kernel's own EFBIG, not a simulated one."""
    script = tmp_path / "limit.py"
    script.write_text(REAL_LIMIT)
    work = tmp_path / "work"
    work.mkdir()
    with (tmp_path / "stdout").open("wb") as out:
        done = subprocess.run(
            [sys.executable, str(script), where, str(limit)],
            cwd=work,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert (done.returncode, done.stderr) == (1, f"poolpipe: error: {sentence}\n")
    assert list(work.iterdir()) == []


def test_a_full_standard_output_is_one_sentence_and_nothing_fails_at_exit():
    code = (
        "import sys\nfrom poolpipe.core.outputs import write_stdout\n"
        "from poolpipe.errors import run_guarded\n"
        "sys.exit(run_guarded(lambda: write_stdout('x' * 10)))\n"
    )
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60
        )
    assert (done.returncode, done.stderr) == (
        1,
        "poolpipe: error: standard output cannot be written: No space left on device\n",
    )


KILLED_WRITER = """
import os, signal, sys
from poolpipe.core.outputs import open_atomic
with open_atomic(sys.argv[1]) as fh:
    fh.write(b"half of it")
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_writer(target: Path) -> list[str]:
    """Run a writer of target that is SIGKILLed inside open_atomic; the names it left."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(target)], capture_output=True, timeout=60
    )
    assert done.returncode == -9, done.stderr
    return sorted(n for n in os.listdir(target.parent) if n != target.name)


def dead_writer_name(prefix: str) -> str:
    """A temporary name that temporary_name gave in a process that has ended."""
    code = (
        "import sys; from poolpipe.core.outputs import temporary_name as t; print(t(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, prefix], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip()


def test_a_sigkilled_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "numbers.txt"
    left = _killed_writer(target)
    assert len(left) == 1 and left[0].startswith(".numbers.txt.poolpipe-"), left
    assert left[0].endswith(".tmp") and not target.exists()
    with open_atomic(target) as fh:
        fh.write(b"whole\n")
    assert sorted(os.listdir(tmp_path)) == ["numbers.txt"]
    assert target.read_bytes() == b"whole\n"


def test_cleanup_leaves_what_is_not_a_dead_writers_temporary_file_of_the_target(tmp_path):
    """A user's files of similar names, a live writer's, another target's, one of another
    host's writers and a symlink named as a dead writer's file all stay."""
    target = tmp_path / "a.txt"
    dead = dead_writer_name(".a.txt.poolpipe-")
    host, pid, rand = dead[len(".a.txt.poolpipe-") : -len(".tmp")].split("-")
    other_host = f"{(int(host, 16) + 1) % 16**8:08x}"
    kept = {
        ".a.txt.keep.tmp": "a user's file",
        ".a.txt.x.tmp": "another's finished output",
        ".a.txt.poolpipe-notes.tmp": "a user's notes",
        f".a.txt.poolpipe-{host}-{pid}-{rand}.tmp.bak": "a user's backup",
        f".a.txt.poolpipe-{host}-{os.getpid()}-{rand}.tmp": "a live writer's",
        f".b.txt.poolpipe-{host}-{pid}-{rand}.tmp": "another target's",
        f".a.txt.poolpipe-{other_host}-{pid}-{rand}.tmp": "another host's",
    }
    for name, text in kept.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "outside").write_text("the link's target")
    (tmp_path / dead).symlink_to(tmp_path / "outside")
    stale = dead_writer_name(".a.txt.poolpipe-")
    (tmp_path / stale).write_text("a dead writer's")
    with open_atomic(target) as fh:
        fh.write(b"x")
    for name, text in kept.items():
        assert (tmp_path / name).read_text() == text, name
    assert (tmp_path / dead).is_symlink() and (tmp_path / "outside").exists()
    assert not (tmp_path / stale).exists()


@pytest.mark.parametrize("stdout", ["/dev/full", "closed"])
@pytest.mark.parametrize("stage", ["sum", "tasks", "train"])
def test_a_summary_that_cannot_be_printed_is_one_sentence(tmp_path, stdout, stage):
    (tmp_path / "root").mkdir()
    (tmp_path / "n.txt").write_text("1\n2\n")
    (tmp_path / "t.csv").write_text("x,y\n1,2\n2,3\n3,5\n")
    (tmp_path / "m.jsonl").write_text('{"op": "write", "path": "a.txt", "content": "hi"}\n')
    args = {
        "sum": ["n.txt"],
        "tasks": ["m.jsonl", "--root", "root", "--out", "r.tsv"],
        "train": ["t.csv", "--target", "y"],
    }[stage]
    redirect = ">&-" if stdout == "closed" else f"> {stdout}"
    command = " ".join([str(Path(sys.executable).with_name("poolpipe")), stage, *args, redirect])
    done = subprocess.run(
        ["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    why = "it is closed" if stdout == "closed" else "No space left on device"
    assert (done.returncode, done.stderr) == (
        1,
        f"poolpipe: error: standard output cannot be written: {why}\n",
    )
