"""Outputs written atomically and deterministically: no reader ever sees half a file."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from poolpipe.core.bigints import SMALL_DIGITS, decimal_to_int, int_to_decimal
from poolpipe.core.inputs import read_small_file
from poolpipe.errors import PoolpipeError

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)
"""Errors of a write itself (a full disk, a quota, a read-only or failing device)."""
_SMALL_BITS = int(SMALL_DIGITS * 3.32)
_NONCE = os.urandom(8).hex()


def check_output_path(path: str | os.PathLike[str], label: str = "output") -> Path:
    """Return path if a file can be written there (its folder made if missing), else one sentence.

    Called before any work, so that a bad output path never costs the run.
    """
    p = Path(path)
    name = f"{label} {os.fspath(path)!r}"
    try:
        if p.is_dir():
            raise PoolpipeError(f"{name} is a folder, not a file")
        if p.exists() and not p.is_file():
            raise PoolpipeError(f"{name} exists and is not a regular file")
        parent = p.parent
        ancestor = parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise PoolpipeError(f"{name} cannot be written: {str(ancestor)!r} is not a folder")
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PoolpipeError(f"{name} cannot be written: {_why(exc)}") from None
    return p


def refuse_overlap(
    *,
    inputs: dict[str, str | os.PathLike[str] | None],
    outputs: dict[str, str | os.PathLike[str] | None],
) -> None:
    """Refuse, before any work, an output that is one of the inputs or another output.

    Keys are the names a user knows (`--timing`, `input`); None values are skipped. Paths are
    compared after resolving links, and existing files also by device and inode, so a hard
    link or a path through a symlinked folder is caught as well as the same spelling.
    """
    seen: dict[tuple, str] = {}
    for kind, paths in (("input", inputs), ("output", outputs)):
        for label, path in paths.items():
            if path is None:
                continue
            for key in _file_keys(path):
                other = seen.get(key)
                if other is not None and kind == "output":
                    raise PoolpipeError(
                        f"{label} {os.fspath(path)!r} is the same file as {other}: "
                        "choose another path"
                    )
                seen.setdefault(key, f"{label} {os.fspath(path)!r}")


def _file_keys(path: str | os.PathLike[str]) -> list[tuple]:
    """The resolved path of a file and, where it exists, its device and inode."""
    keys: list[tuple] = [("path", os.path.realpath(path))]
    with contextlib.suppress(OSError):
        info = os.stat(path)
        keys.append(("inode", info.st_dev, info.st_ino))
    return keys


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def open_atomic(
    path: str | os.PathLike[str], dir_fd: int | None = None, *, prefix: str | None = None
) -> Iterator[BinaryIO]:
    """Open a temporary file beside path for writing; rename it onto path only on success.

    With dir_fd, path is a plain name in that open directory and nothing is looked up by
    path again, so a directory swapped for a symlink meanwhile cannot redirect the write;
    prefix then starts the temporary file's name (random hex and `.tmp` follow).
    """
    if dir_fd is not None:
        with _open_atomic_at(dir_fd, os.fspath(path), prefix) as fh:
            yield fh
        return
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise PoolpipeError(f"{str(target)!r} cannot be written: {_why(exc)}") from None
    try:
        with _write_errors(target), os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        with _write_errors(target, every=True):
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _write_errors(target: str | os.PathLike[str], every: bool = False) -> Iterator[None]:
    """Turn a failed write (a full disk, a read-only device; with every, any OSError) into
    one sentence."""
    try:
        yield
    except OSError as exc:
        if every or exc.errno in _FULL:
            raise PoolpipeError(f"{os.fspath(target)!r} cannot be written: {_why(exc)}") from None
        raise


@contextlib.contextmanager
def _open_atomic_at(dir_fd: int, name: str, prefix: str | None) -> Iterator[BinaryIO]:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a plain file name")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = f"{prefix or f'.{name}.'}{os.urandom(6).hex()}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name for {name!r}")
    try:
        with _write_errors(name), os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o644)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def write_stdout(text: str) -> None:
    """Write text to standard output, unbuffered: a full disk or a file-size limit on a
    redirected output is one sentence, and leaves nothing buffered to fail again at exit."""
    data = text.encode()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        sys.stdout.write(text)  # a stream without a file (a test's capture)
        return
    try:
        sys.stdout.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise PoolpipeError(f"standard output cannot be written: {_why(exc)}") from None


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write data to path so that no reader ever sees half a file."""
    with open_atomic(path) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def _strict(obj: Any, big: dict[str, str], where: str = "") -> Any:
    """obj with every int too long for Python's quick conversion replaced by a placeholder (its
    digits in big); one sentence for a float that is not finite (JSON has no NaN or Infinity)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        if obj.bit_length() < _SMALL_BITS:
            return obj
        key = f"\x00{_NONCE}:{len(big)}\x00"
        big[json.dumps(key)] = int_to_decimal(obj)
        return key
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise PoolpipeError(
                f"the result's {where or 'value'} is {obj}, not a finite number, and strict "
                "JSON cannot hold it"
            )
        return obj
    if isinstance(obj, dict):
        return {k: _strict(v, big, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v, big, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def dumps_json(obj: Any) -> str:
    """Serialise obj the one way every output uses: indented, key order kept, newline-ended,
    strict JSON (a float that is not finite is one sentence), integers of any size."""
    big: dict[str, str] = {}
    text = json.dumps(_strict(obj, big), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if big:
        text = re.sub("|".join(map(re.escape, big)), lambda m: big[m.group(0)], text)
    return text


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write obj as JSON, atomically."""
    write_atomic(path, dumps_json(obj))


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


JSON_LIMIT = 256 << 20
"""The most bytes read_json reads: a part or index one job hands the next is far smaller."""


def read_json(
    path: str | os.PathLike[str], *, label: str = "JSON file", limit: int = JSON_LIMIT
) -> Any:
    """Read a strict JSON file, integers of any size, within limit bytes; or one sentence.

    Files one rule hands the next go through here: a FIFO, a device or a giant put in their
    place is refused unread, and a file cut short or damaged is named, not a traceback.
    """
    data = read_small_file(path, label=label, limit=limit)
    try:
        return json.loads(data.decode("utf-8"), parse_int=decimal_to_int, parse_constant=_constant)
    except UnicodeDecodeError:
        why = "it is not UTF-8"
    except RecursionError:
        why = "it is nested too deeply"
    except ValueError as exc:  # the decoder's place of the damage, or _constant's NaN
        why = str(exc)
    raise PoolpipeError(f"{label} {os.fspath(path)!r} cannot be read: {why}")
