"""Outputs written atomically and deterministically: no reader ever sees half a file."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike[str], dir_fd: int | None = None) -> Iterator[BinaryIO]:
    """Open a temporary file beside path for writing; rename it onto path only on success.

    With dir_fd, path is a plain name in that open directory and nothing is looked up by
    path again, so a directory swapped for a symlink meanwhile cannot redirect the write.
    """
    if dir_fd is not None:
        with _open_atomic_at(dir_fd, os.fspath(path)) as fh:
            yield fh
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _open_atomic_at(dir_fd: int, name: str) -> Iterator[BinaryIO]:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a plain file name")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = f".{name}.{os.urandom(6).hex()}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name for {name!r}")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o644)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write data to path so that no reader ever sees half a file."""
    with open_atomic(path) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


@contextlib.contextmanager
def _any_int_size() -> Iterator[None]:
    """Lift Python's 4300-digit limit on int <-> str while our own exact integers pass through."""
    saved = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(saved)


def dumps_json(obj: Any) -> str:
    """Serialise obj the one way every output uses: indented, key order kept, newline-ended."""
    with _any_int_size():
        return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write obj as JSON, atomically."""
    write_atomic(path, dumps_json(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with Path(path).open(encoding="utf-8") as fh, _any_int_size():
        return json.load(fh)
