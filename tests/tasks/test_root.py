"""Paths confined beneath a root: traversal, absolute paths, symlink escapes, races."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolpipe.core.outputs import open_atomic
from poolpipe.errors import PoolpipeError
from poolpipe.tasks.root import PathError, Root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/outside/secret.txt beside tmp/root, which holds files and symlinks in and out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("inside\n")
    os.symlink("../../outside", root / "a" / "out")  # a folder link pointing out
    os.symlink("b", root / "a" / "in")  # a folder link staying in
    os.symlink("../../outside/secret.txt", root / "a" / "secret-link")  # a file link out
    os.symlink(str(outside / "secret.txt"), root / "abs-out")
    os.symlink(str(root / "a" / "b" / "f.txt"), root / "abs-in")
    os.symlink("a/b/../../..", root / "climb")  # climbs out through a folder
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.mkfifo(root / "fifo")
    return root


def _read(root: Root, path: str) -> str:
    fd, _ = root.open_file(path)
    with os.fdopen(fd) as fh:
        return fh.read()


def _real(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.parametrize(
    ("path", "real"),
    [
        ("a/b/f.txt", "a/b/f.txt"),
        ("./a//b/./f.txt", "a/b/f.txt"),
        ("a/in/f.txt", "a/b/f.txt"),
        ("abs-in", "a/b/f.txt"),
    ],
)
def test_paths_beneath_the_root_are_read(tree: Path, path: str, real: str) -> None:
    with Root(tree) as root:
        assert _read(root, path) == "inside\n"
        fd, got = root.open_file(path)
        os.close(fd)
        assert got == real


def test_an_absolute_path_inside_the_root_is_allowed(tree: Path) -> None:
    with Root(tree) as root:
        assert _read(root, str(tree / "a" / "b" / "f.txt")) == "inside\n"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../outside/secret.txt", "'..' in a task path is refused"),
        ("a/../../outside/secret.txt", "'..' in a task path is refused"),
        ("a/b/..", "'..' in a task path is refused"),
        ("/etc/passwd", "absolute path outside the root"),
        ("a/out/secret.txt", "symlink 'a/out' points outside the root"),
        ("a/secret-link", "symlink 'a/secret-link' points outside the root"),
        ("abs-out", "symlink 'abs-out' points outside the root"),
        ("climb/outside/secret.txt", "symlink 'climb' points outside the root"),
        ("loop1", "more than 40 symlinks"),
        ("", "non-empty string"),
        (".", "names the root folder itself"),
        ("a/b/f.txt\0x", "NUL"),
        ("a/\udcff", "does not exist"),
        ("a/\ud800", "not valid Unicode text"),
    ],
)
def test_escapes_and_bad_paths_are_refused(tree: Path, path: str, why: str) -> None:
    with Root(tree) as root:
        with pytest.raises(PathError, match=why):
            root.open_file(path)
        if why != "does not exist":
            with pytest.raises(PathError, match=why):
                root.target(path)


def test_an_absolute_path_given_through_a_symlinked_root_is_inside(tree: Path) -> None:
    alias = tree.parent / "alias"
    os.symlink(tree, alias)
    with Root(alias) as root:
        assert _read(root, str(alias / "a" / "b" / "f.txt")) == "inside\n"
        assert _read(root, str(tree / "a" / "b" / "f.txt")) == "inside\n"
        with pytest.raises(PathError, match="absolute path outside"):
            root.open_file(str(tree.parent / "outside" / "secret.txt"))


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("a", "'a' is a folder"),
        ("fifo", "'fifo' is not a regular file"),
        ("a/missing.txt", "'a/missing.txt' does not exist"),
        ("a/b/f.txt/x", "'a/b/f.txt' is not a folder"),
        ("nope/x", "'nope' does not exist"),
    ],
)
def test_what_is_not_a_readable_file_is_named(tree: Path, path: str, why: str) -> None:
    with Root(tree) as root, pytest.raises(PathError, match=why):
        root.open_file(path)


def test_a_fifo_is_refused_without_blocking(tree: Path) -> None:
    with Root(tree) as root, pytest.raises(PathError, match="not a regular file"):
        root.open_file("fifo")  # an open for reading would wait for a writer forever


def test_a_missing_root_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(PoolpipeError, match="does not exist"):
        Root(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(PoolpipeError, match="is not a folder"):
        Root(tmp_path / "file")


def test_a_write_target_makes_folders_and_follows_links_that_stay_in(tree: Path) -> None:
    with Root(tree) as root:
        target = root.target("new/deeper/x.txt")
        try:
            assert target.name == "x.txt" and target.path == "new/deeper/x.txt"
            assert _real(target.dir_fd) == str(tree / "new" / "deeper")
        finally:
            target.close()
        target = root.target("a/in/g.txt")
        target.close()
        assert target.path == "a/b/g.txt"
        target = root.target("abs-in")
        target.close()
        assert target.path == "a/b/f.txt"


def test_refused_writes_leave_no_folder_behind_outside(tree: Path) -> None:
    with Root(tree) as root:
        for path in ["a/out/new/x.txt", "climb/outside/y.txt", "../outside/z.txt"]:
            with pytest.raises(PathError):
                root.target(path)
    assert sorted(p.name for p in (tree.parent / "outside").iterdir()) == ["secret.txt"]


def test_keys_name_the_real_file(tree: Path) -> None:
    with Root(tree) as root:
        assert root.key("a/in/f.txt") == "a/b/f.txt"
        assert root.key("abs-in") == "a/b/f.txt"
        assert root.key("a/in/not/yet.txt") == "a/b/not/yet.txt"
        assert root.key("new/x.txt") == "new/x.txt"
        with pytest.raises(PathError):
            root.key("a/out/secret.txt")


def test_no_descriptor_is_leaked(tree: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    with Root(tree) as root:
        for path in ["a/b/f.txt", "a/in/f.txt", "a/out/secret.txt", "loop1", "a/b/f.txt/x"]:
            try:
                fd, _ = root.open_file(path)
                os.close(fd)
            except PathError:
                pass
            with contextlib.suppress(PathError):
                root.target(path).close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_folder_swapped_for_a_symlink_after_lookup_cannot_redirect_the_write(
    tree: Path,
) -> None:
    """Resolve-then-use: the write goes into the folder that was checked, by descriptor."""
    outside = tree.parent / "outside"
    with Root(tree) as root:
        target = root.target("a/b/new.txt")
        try:
            os.rename(tree / "a" / "b", tree / "a" / "b-moved")
            os.symlink(str(outside), tree / "a" / "b")
            with open_atomic(target.name, dir_fd=target.dir_fd) as fh:
                fh.write(b"stays inside\n")
        finally:
            target.close()
    assert (tree / "a" / "b-moved" / "new.txt").read_text() == "stays inside\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_writes_racing_a_symlink_swap_never_land_outside(tree: Path) -> None:
    """A thread keeps swapping a/sw (atomically) between a link to a folder inside and a link
    to the folder outside, while writes go through a/sw: each lands inside or is refused."""
    outside = tree.parent / "outside"
    inside = tree / "a" / "sw-real"
    inside.mkdir()
    sw = tree / "a" / "sw"
    os.symlink("sw-real", sw)
    stop = threading.Event()

    def flip() -> None:
        flips = 0
        while not stop.is_set():
            spare = tree / "a" / f".sw-{flips}"
            os.symlink(str(outside) if flips % 2 else "sw-real", spare)
            os.replace(spare, sw)
            flips += 1

    flipper = threading.Thread(target=flip)
    flipper.start()
    outcomes = {"written": 0, "refused": 0}
    try:
        with Root(tree) as root:
            for i in range(500):
                try:
                    target = root.target(f"a/sw/f{i}.txt")
                except PathError:
                    outcomes["refused"] += 1
                    continue
                try:
                    with open_atomic(target.name, dir_fd=target.dir_fd) as fh:
                        fh.write(b"x")
                finally:
                    target.close()
                outcomes["written"] += 1
    finally:
        stop.set()
        flipper.join(timeout=30)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert outcomes["written"] and outcomes["refused"], outcomes  # both sides of the race ran
    assert len(list(inside.glob("f*.txt"))) == outcomes["written"]


NAMES = st.sampled_from(
    ["a", "b", "f.txt", "in", "out", "secret-link", "abs-out", "abs-in", "climb", "..", ".", ""]
)


@settings(max_examples=400)
@given(parts=st.lists(NAMES, min_size=1, max_size=6), absolute=st.booleans())
def test_whatever_the_path_what_is_opened_lies_beneath_the_root(
    tree: Path, parts: list[str], absolute: bool
) -> None:
    path = "/".join(parts)
    if absolute:
        path = str(tree) + "/" + path
    with Root(tree) as root:
        try:
            fd, _ = root.open_file(path)
        except PathError:
            pass
        else:
            try:
                assert _real(fd).startswith(str(tree) + "/")
            finally:
                os.close(fd)
        try:
            target = root.key(path)
        except PathError:
            return
        assert not target.startswith("..") and not target.startswith("/")
