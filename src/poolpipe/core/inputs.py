"""Input checks: a readable regular file, or one sentence that says what is wrong."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from poolpipe.errors import PoolpipeError


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Return the path if it is a readable regular file, else raise one clear sentence.

    Every stage splits its input by its size, so a file whose size is not its length (a
    /proc-like file that reports 0 bytes) is refused rather than read as empty.
    """
    p = Path(path)
    name = str(p)
    try:
        info = p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            raise PoolpipeError(f"input file {name!r} is a symlink to nothing") from None
        raise PoolpipeError(f"input file {name!r} does not exist") from None
    except OSError as exc:
        raise PoolpipeError(_unreachable(f"input file {name!r}", exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise PoolpipeError(f"input {name!r} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise PoolpipeError(f"input {name!r} is not a regular file")
    try:
        with p.open("rb") as fh:
            head = fh.read(1) if info.st_size == 0 else b""
    except OSError as exc:
        raise PoolpipeError(f"input file {name!r} cannot be read: {exc.strerror}") from None
    if head:
        raise PoolpipeError(
            f"input file {name!r} reports size 0 but is not empty (a /proc-like file): "
            "copy it to a regular file first"
        )
    return p


TEXT_PROBE = 8192
"""How much of a text input is looked at for a NUL byte, the mark of a file that is not text."""


def check_text_file(path: str | os.PathLike[str], what: str) -> Path:
    """check_input_file, and one sentence for a file with a NUL byte in its first TEXT_PROBE
    bytes (a binary file, or text saved as UTF-16), as grep and git tell text from binary."""
    p = check_input_file(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(TEXT_PROBE)
    except OSError as exc:
        raise PoolpipeError(f"input file {str(p)!r} cannot be read: {exc.strerror}") from None
    if b"\0" in head:
        raise PoolpipeError(
            f"input file {str(p)!r} is not a {what}: it has a NUL byte in its first "
            f"{TEXT_PROBE:,} bytes (a binary file, or text saved as UTF-16: save it as UTF-8)"
        )
    return p


def read_small_file(path: str | os.PathLike[str], *, label: str, limit: int) -> bytes:
    """Return the whole of a small file (a model, a sheet, a baseline), or one sentence.

    The file is opened without blocking, so a FIFO or a device is refused instead of waited
    on, and at most limit + 1 bytes are read, so /dev/zero or a sparse giant cannot fill memory.
    """
    name = f"{label} {os.fspath(path)!r}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PoolpipeError(f"{name} does not exist") from None
    except OSError as exc:
        raise PoolpipeError(_unreachable(name, exc)) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        what = "a directory, not a file" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise PoolpipeError(f"{name} is {what}")
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > limit:
            raise PoolpipeError(f"{name} is larger than {limit:,} bytes")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise PoolpipeError(f"{name} cannot be read: {exc.strerror}") from None
    if len(data) > limit:
        raise PoolpipeError(f"{name} is larger than {limit:,} bytes")
    return data


def check_input_folder(path: str | os.PathLike[str], label: str = "input folder") -> Path:
    """Return the path if it is a folder that may be entered and read, else one sentence."""
    p = Path(path)
    name = f"{label} {str(p)!r}"
    try:
        info = p.stat()
    except FileNotFoundError:
        raise PoolpipeError(f"{name} does not exist") from None
    except OSError as exc:
        raise PoolpipeError(_unreachable(name, exc)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise PoolpipeError(f"{name} is not a folder")
    try:
        os.close(os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except OSError as exc:
        raise PoolpipeError(f"{name} cannot be read: {exc.strerror}") from None
    if not os.access(p, os.X_OK | os.R_OK):
        raise PoolpipeError(f"{name} may not be entered and read")
    return p


def _unreachable(name: str, exc: OSError) -> str:
    """One sentence for a path that cannot be looked up."""
    if exc.errno == errno.ELOOP:
        return f"{name} is a symlink loop"
    if exc.errno == errno.ENOTDIR:
        return f"{name} does not exist: a part of its path is not a folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{name} cannot be reached: a folder on its path may not be entered"
    return f"{name} cannot be read: {exc.strerror}"
