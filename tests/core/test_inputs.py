"""Input files every stage refuses in one sentence, through the real `poolpipe` command: a folder
that may not be entered, a /proc-like file that reports size 0, a symlink loop or one to nothing.

The tests run as root, whom no permission stops; a folder that may not be entered is made by
giving it to another user (mode 0700) and running the command without the capabilities that let
root pass permission bits (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as an ordinary user would.
"""

from __future__ import annotations

import bz2
import ctypes
import gzip
import lzma
import os
import subprocess
import sys
from pathlib import Path

import pytest

from poolpipe import core
from poolpipe.core.inputs import check_input_file, check_input_folder, not_text
from poolpipe.errors import PoolpipeError

from ..helpers import one_sentence, run_poolpipe

NOBODY = 65534
_PR_CAPBSET_DROP = 24
_DAC_CAPS = (1, 2)


def _without_permission_override() -> None:
    """In the child before exec: drop the capabilities that let root ignore permission bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _DAC_CAPS:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def poolpipe(
    *args: str, unprivileged: bool = False, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command; unprivileged, as a user whom permission bits stop."""
    preexec = _without_permission_override if unprivileged else None
    return run_poolpipe(*args, preexec_fn=preexec, cwd=cwd)


@pytest.fixture
def locked(tmp_path: Path) -> Path:
    """A folder with a file of numbers inside, mode 0700, owned by another user."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user")
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "n.txt").write_text("x,y\n1,2\n2,4\n3,7\n")
    os.chown(folder / "n.txt", NOBODY, NOBODY)
    os.chown(folder, NOBODY, NOBODY)
    folder.chmod(0o700)
    return folder


REACH = "cannot be reached: a folder on its path may not be entered"


@pytest.mark.parametrize(
    "stage",
    [
        ["sum"],
        ["train", "--target", "y"],
        ["crawl", "--out", "{tmp}/pages.tsv"],
    ],
    ids=["sum", "train", "crawl"],
)
def test_an_input_in_a_folder_that_may_not_be_entered(tmp_path, locked, stage):
    args = [a.replace("{tmp}", str(tmp_path)) for a in stage]
    done = poolpipe(args[0], str(locked / "n.txt"), *args[1:], unprivileged=True)
    one_sentence(done, f"input file '{locked / 'n.txt'}' {REACH}")
    assert not (tmp_path / "pages.tsv").exists()


@pytest.mark.parametrize(
    "stage",
    [
        ["sum", "{file}"],
        ["train", "{file}", "--target", "y"],
        ["crawl", "{file}", "--out", "{tmp}/pages.tsv"],
        ["predict", "{file}", "{tmp}/t.csv", "--out", "{tmp}/p.csv"],
    ],
    ids=["sum", "train", "crawl", "predict"],
)
def test_an_input_that_may_not_be_read_is_named_so(tmp_path, stage):
    if os.geteuid() != 0:
        pytest.skip("needs root to run without the capabilities that pass permission bits")
    file = tmp_path / "n.txt"
    file.write_text("1\n2\n")
    file.chmod(0o000)
    (tmp_path / "t.csv").write_text("x,y\n1,2\n")
    args = [a.format(file=file, tmp=tmp_path) for a in stage]
    done = poolpipe(*args, unprivileged=True)
    label = "model" if stage[0] == "predict" else "input file"
    one_sentence(done, f"{label} '{file}' cannot be read: Permission denied")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.txt", "t.csv"]


@pytest.mark.parametrize(
    ("stage", "said"),
    [
        (["sum", "--strict"], "'{file}', line 2: 'x' is not an integer"),
        (["train", "--target", "z"], "{file} has no target column 'z'"),
        (["train", "--target", "y", "--strict"], "'{file}', line 3: column 'y' is not a number"),
    ],
    ids=["sum --strict", "train", "train --strict"],
)
def test_a_sentence_naming_a_file_with_a_line_break_stays_one_line(tmp_path, stage, said):
    file = tmp_path / "a\nb.csv"
    file.write_text("x,y\n1,2\n3,x\n" if stage[0] == "train" else "1\nx\n")
    done = poolpipe(stage[0], str(file), *stage[1:])
    one_sentence(done, said.format(file=str(file).replace("\n", "\\n")))  # its escape


def test_a_task_root_that_may_not_be_entered(tmp_path, locked):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"op": "write", "path": "a.txt", "content": "x"}\n')
    out = tmp_path / "results.tsv"
    done = poolpipe(
        "tasks", str(manifest), "--root", str(locked), "--out", str(out), unprivileged=True
    )
    one_sentence(done, f"task root '{locked}'")
    assert not out.exists()


def test_the_tasks_root_check_is_one_sentence(locked):
    code = (
        "from poolpipe.core.inputs import check_input_folder\n"
        "from poolpipe.errors import PoolpipeError\n"
        f"try:\n    check_input_folder({str(locked)!r}, 'task root')\n"
        "except PoolpipeError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_without_permission_override,
    )
    assert done.stdout == f"task root '{locked}' cannot be read: Permission denied\n", done.stderr


PROC_FILE = Path("/proc/sys/kernel/pid_max")


@pytest.mark.skipif(not PROC_FILE.exists(), reason="no /proc/sys/kernel/pid_max")
@pytest.mark.parametrize("stage", [["sum"], ["train", "--target", "y"], ["crawl", "--out", "o"]])
def test_a_file_that_reports_size_0_but_is_not_empty(tmp_path, stage):
    done = poolpipe(stage[0], str(PROC_FILE), *stage[1:])
    one_sentence(
        done,
        f"input file '{PROC_FILE}' reports size 0 but is not empty (a /proc-like file): "
        "copy it to a regular file first",
    )


@pytest.mark.skipif(not os.access("/proc/kmsg", os.R_OK), reason="/proc/kmsg cannot be read")
def test_a_pseudo_file_whose_read_would_wait_is_refused_without_a_read():
    # a read of /proc/kmsg waits for the kernel's next message (and takes it from the logger)
    done = poolpipe("sum", "/proc/kmsg")
    one_sentence(
        done,
        "input file '/proc/kmsg' reports size 0 but is not empty (a /proc-like file): copy it "
        "to a regular file first",
    )


def test_an_empty_regular_file_is_still_an_empty_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    done = poolpipe("sum", str(empty))
    assert done.returncode == 0, done.stderr
    assert '"total": 0' in done.stdout


@pytest.mark.parametrize("stage", [["sum"], ["train", "--target", "y"], ["crawl", "--out", "o"]])
def test_a_symlink_loop_is_named(tmp_path, stage):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    done = poolpipe(stage[0], str(tmp_path / "a"), *stage[1:])
    one_sentence(done, f"input file '{tmp_path / 'a'}' is a symlink loop")


TEXT = b"x,y\nhttp://127.0.0.1:9/\n"


@pytest.mark.parametrize(
    ("stage", "what"),
    [
        (["train", "--target", "y"], "a text CSV file"),
        (["crawl", "--out", "out/pages.tsv"], "a text file of URLs"),
    ],
)
@pytest.mark.parametrize(
    ("data", "found"),
    [
        (Path(sys.executable).read_bytes()[:100_000], "binary: more than one byte in 16 of"),
        (TEXT.decode().encode("utf-16"), "UTF-16 text (save it as UTF-8)"),
        (gzip.compress(TEXT * 100, mtime=0), "gzip-compressed (decompress it first)"),
        (TEXT.replace(b"\n", b"\r"), "text with CR-only line ends (save it with LF or CRLF"),
    ],
)
def test_a_file_that_is_not_text_is_one_sentence(tmp_path, stage, what, data, found):
    path = tmp_path / "input"
    path.write_bytes(data)
    done = poolpipe(stage[0], str(path), *stage[1:], cwd=tmp_path)
    one_sentence(done, f"input file '{path}' is not {what}: it is {found}")
    # refused before any work: no output, no journal (the output's folder is made when checked)
    assert [p for p in tmp_path.rglob("*") if p.name != "out"] == [path]


@pytest.mark.parametrize(
    ("head", "found"),
    [
        (TEXT, ""),
        (b"http://example.invalid/a\0b\n" * 20, ""),  # stray NULs: rows say so, no refusal
        (b"\0" * 3 + b"x" * 45, ""),  # one byte in 16 is a NUL: still text
        (b"\0" * 4 + b"x" * 44, "binary"),
        (TEXT.decode().encode("utf-16-le"), "binary"),  # UTF-16 without its mark
        (TEXT.decode().encode("utf-16-be"), "binary"),
        (bz2.compress(TEXT), "bzip2-compressed"),
        (lzma.compress(TEXT), "xz-compressed"),
        (b"PK\x03\x04" + TEXT, "a zip archive"),
        (b"BZh9 is a name\n", ""),
        (b"x,y\r1,2\r", "text with CR-only line ends"),
        (b"x\r\ry\r", "text with CR-only line ends"),
        (b"x,y\r1,2\r\n", ""),  # a line feed: CRLF or a CR in a line, which rows report
        (b"x,y\r", ""),  # one line, its CR left to the row
        (b"", ""),
    ],
)
def test_not_text_knows_what_a_file_is_from_its_first_bytes(head, found):
    assert not_text(head).startswith(found) and bool(not_text(head)) == bool(found)


def test_not_text_can_leave_nul_bytes_to_the_lines_that_hold_them():
    assert not_text(b"\0" * 64, nuls=False) == ""
    assert not_text(gzip.compress(b"x"), nuls=False) == "gzip-compressed (decompress it first)"


def test_a_symlink_to_nothing_is_named(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "gone")
    one_sentence(poolpipe("sum", str(tmp_path / "a")), "is a symlink to nothing")


@pytest.mark.parametrize(
    "stage", [["sum"], ["crawl", "--out", "o/p.tsv"], ["train", "--target", "y"]]
)
def test_an_empty_input_path_is_named_so(tmp_path, stage):
    done = poolpipe(stage[0], "", *stage[1:], cwd=tmp_path)
    one_sentence(done, "the input file's path is empty")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a directory, not a file"),
        (lambda p: os.mkfifo(p), "is not a regular file"),
    ],
    ids=["missing", "folder", "fifo"],
)
def test_check_input_file_says_what_is_wrong(tmp_path, make, message):
    path = tmp_path / "in"
    make(path)
    with pytest.raises(PoolpipeError, match=message):
        check_input_file(path)


def test_a_path_through_a_file_does_not_exist(tmp_path):
    (tmp_path / "f").write_text("1\n")
    with pytest.raises(PoolpipeError, match="a part of its path is not a folder"):
        check_input_file(tmp_path / "f" / "x")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("x"), "is not a folder"),
    ],
    ids=["missing", "file"],
)
def test_check_input_folder_says_what_is_wrong(tmp_path, make, message):
    path = tmp_path / "root"
    make(path)
    with pytest.raises(PoolpipeError, match=f"task root '{path}' {message}"):
        check_input_folder(path, "task root")
    assert check_input_folder(tmp_path) == tmp_path


def test_read_small_file_reads_a_small_regular_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(b"{}\n")
    assert core.read_small_file(path, label="model", limit=3) == b"{}\n"


def test_read_small_file_refuses_a_fifo_without_waiting(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PoolpipeError, match=r"^model '.*fifo' is not a regular file$"):
        core.read_small_file(fifo, label="model", limit=100)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
def test_read_small_file_refuses_a_device(path):
    with pytest.raises(PoolpipeError, match="is not a regular file"):
        core.read_small_file(path, label="baseline", limit=100)


def test_read_small_file_refuses_a_file_over_its_bound(tmp_path):
    sparse = tmp_path / "sparse"
    with sparse.open("wb") as fh:
        fh.truncate(2 << 30)
    with pytest.raises(PoolpipeError, match=r"is larger than 1,024 bytes$"):
        core.read_small_file(sparse, label="sheet", limit=1024)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is a directory, not a file"),
        (lambda p: p.symlink_to(p), "is a symlink loop"),
    ],
)
def test_read_small_file_says_what_is_wrong(tmp_path, make, message):
    path = tmp_path / "x"
    make(path)
    with pytest.raises(PoolpipeError, match=message):
        core.read_small_file(path, label="model", limit=100)
