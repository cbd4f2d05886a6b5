"""Input checks: a readable regular file, or one sentence that says what is wrong."""

from __future__ import annotations

import contextlib
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
    if not os.fspath(path):
        raise PoolpipeError("the input file's path is empty")
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
        os.close(os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))  # a file we may not read
        fake = info.st_size == 0 and not_empty(p)
    except OSError as exc:
        raise PoolpipeError(f"input file {name!r} cannot be read: {exc.strerror}") from None
    if fake:
        raise PoolpipeError(f"input file {name!r} {PROC_LIKE}")
    return p


PROC_LIKE = "reports size 0 but is not empty (a /proc-like file): copy it to a regular file first"


def not_empty(path: str | os.PathLike[str]) -> bool:
    """Whether a file that reports size 0 has bytes to read, or would make a reader wait for
    them: any file of /proc or /sys (unread: a read of /proc/kmsg takes the kernel's messages
    from the system's logger), else looked at without waiting."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_dev in _pseudo_devices():
            return True
        return bool(os.read(fd, 1))
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _pseudo_devices() -> set[int]:
    """The devices of /proc and /sys, whose files report size 0 whatever they hold."""
    found = set()
    for top in ("/proc", "/sys"):
        with contextlib.suppress(OSError):
            found.add(os.stat(top).st_dev)
    return found


TEXT_PROBE = 8192
"""How much of a text input is looked at for the marks of a file that is not text."""

_NOT_TEXT = (
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
    (b"\x1f\x8b", "gzip-compressed (decompress it first)"),
    (b"\xfd7zXZ\x00", "xz-compressed (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed (decompress it first)"),
    (b"PK\x03\x04", "a zip archive (extract the file first)"),
)
"""The first bytes of what is most often given in place of a text file, and what it is."""


def not_text(head: bytes, *, nuls: bool = True) -> str:
    """What a file whose first bytes are head is, where it is plainly not UTF-8 text: a UTF-16
    byte-order mark, a compressed file's magic number, or (with nuls) NUL bytes in more than one
    byte of 16 (UTF-16 text without a mark, a program), or lines that end in CR alone (old Mac
    text, read as one line); '' for text, whose lines may hold a stray NUL."""
    for magic, what in _NOT_TEXT:
        if head.startswith(magic):
            return what
    if head[:3] == b"BZh" and head[4:10] == b"1AY&SY":
        return "bzip2-compressed (decompress it first)"
    if nuls and head.count(0) * 16 > len(head):
        return f"binary: more than one byte in 16 of its first {len(head):,} is a NUL"
    if b"\n" not in head and b"\r" in head.rstrip(b"\r"):
        return "text with CR-only line ends (save it with LF or CRLF line ends)"
    return ""


def check_text_file(path: str | os.PathLike[str], what: str) -> Path:
    """check_input_file, and one sentence for a file that is plainly not UTF-8 text
    (not_text, over its first TEXT_PROBE bytes)."""
    p = check_input_file(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(TEXT_PROBE)
    except OSError as exc:
        raise PoolpipeError(f"input file {str(p)!r} cannot be read: {exc.strerror}") from None
    if found := not_text(head):
        raise PoolpipeError(f"input file {str(p)!r} is not a {what}: it is {found}")
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
        if exc.errno in (errno.EACCES, errno.EPERM) and os.path.lexists(path):  # its own mode
            raise PoolpipeError(f"{name} cannot be read: {exc.strerror}") from None
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
