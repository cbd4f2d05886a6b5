"""Outputs written atomically and deterministically: no reader ever sees half a file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from poolpipe.core.bigints import SMALL_DIGITS, decimal_to_int, int_to_decimal
from poolpipe.core.inputs import read_small_file
from poolpipe.errors import PoolpipeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)
"""Errors of a write itself (a full disk, a quota, a read-only or failing device)."""
_SMALL_BITS = int(SMALL_DIGITS * 3.32)
_NONCE = os.urandom(8).hex()

TEMPORARY_TAG = "poolpipe-"
"""What a temporary file's name holds after `.NAME.`: it and the writer's host, pid and random
hex make the name unmistakably ours (see temporary_name)."""
_WRITER = re.compile(r"(?P<host>[0-9a-f]{8})-(?P<pid>[1-9][0-9]{0,9})-[0-9a-f]{12}\.tmp")
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@functools.cache
def _host() -> str:
    """This host's tag in temporary names: 8 hex digits of its name's SHA-256."""
    import hashlib  # loaded on first use: a command that writes no file starts without it

    return hashlib.sha256(os.uname().nodename.encode("utf-8", "replace")).hexdigest()[:8]


def temporary_name(prefix: str) -> str:
    """A fresh temporary name: prefix, then this host's tag, this process's id and random hex,
    so that the writer of any temporary file we left can be told, and whether it still lives."""
    return f"{prefix}{_host()}-{os.getpid()}-{os.urandom(6).hex()}.tmp"


def _alive(pid: int) -> bool:
    """Whether a process pid runs on this host (a zombie, killed but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    return True


def stale_temporary(entry: str, prefix: str) -> bool:
    """Whether entry is a temporary name that prefix starts and temporary_name made, written
    on this host by a process that no longer lives (never a live writer's, never a name of
    another host, where we cannot tell)."""
    if not entry.startswith(prefix):
        return False
    writer = _WRITER.fullmatch(entry[len(prefix) :])
    return writer is not None and writer["host"] == _host() and not _alive(int(writer["pid"]))


def remove_stale_temporaries(dir_fd: int, prefix: str) -> int:
    """Remove from the open folder dir_fd the temporary files (and scratch folders) of dead
    writers whose names begin with prefix: ours only, never through a link. Returns how many."""
    removed = 0
    for entry in os.listdir(dir_fd):
        if not stale_temporary(entry, prefix):
            continue
        with contextlib.suppress(FileNotFoundError):
            info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
            if info.st_uid != os.geteuid():
                continue
            if stat.S_ISREG(info.st_mode):
                os.unlink(entry, dir_fd=dir_fd)
            elif stat.S_ISDIR(info.st_mode):
                import shutil

                shutil.rmtree(entry, dir_fd=dir_fd)
            else:
                continue
            removed += 1
    return removed


@contextlib.contextmanager
def scratch_folder(beside: str | os.PathLike[str]) -> Iterator[Path]:
    """A new folder beside the file `beside`, named as its temporary files are, removed after
    the block; what killed runs left for the same file is removed first."""
    target = Path(beside)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _folder(target.parent) as dir_fd:
        remove_stale_temporaries(dir_fd, _prefix(target.name))
    folder = target.parent / temporary_name(_prefix(target.name))
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _prefix(name: str) -> str:
    return f".{name}.{TEMPORARY_TAG}"


@contextlib.contextmanager
def _folder(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def check_output_path(path: str | os.PathLike[str], label: str = "output") -> Path:
    """Return path if a file can be written there (its folder made if missing), else one sentence.

    Called before any work, so that a bad output path never costs the run.
    """
    if not os.fspath(path):
        raise PoolpipeError(f"{label} is an empty path")
    p = Path(path)
    name = f"{label} {os.fspath(path)!r}"
    try:
        if p.is_dir():
            raise PoolpipeError(f"{name} is a folder, not a file")
        if os.path.basename(os.fspath(path)) in ("", ".", ".."):  # Path drops a trailing / or /.
            raise PoolpipeError(f"{name} names a folder, not a file")
        if p.exists() and not p.is_file():
            raise PoolpipeError(f"{name} exists and is not a regular file")
        parent = p.parent
        ancestor = parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise PoolpipeError(f"{name} cannot be written: {str(ancestor)!r} is not a folder")
        parent.mkdir(parents=True, exist_ok=True)
        with _folder(parent) as dir_fd:
            probe = temporary_name(_prefix(p.name))
            os.close(os.open(probe, _TMP_FLAGS, 0o600, dir_fd=dir_fd))
            os.unlink(probe, dir_fd=dir_fd)
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


def unwritable_folder(folders: Iterable[str | os.PathLike[str]]) -> str | None:
    """The first existing folder of folders in which no file can be made, with why, as one
    phrase; None where every one can. A missing one is skipped."""
    for folder in folders:
        if not os.path.isdir(folder) or os.access(folder, os.W_OK | os.X_OK):
            continue
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{os.fspath(folder)!r} is on a read-only file system"
        return f"{os.fspath(folder)!r} cannot be written by this user"
    return None


def hold_lock(path: str | os.PathLike[str]) -> int | None:
    """A read-only descriptor of path (a folder, or a file made if missing) holding its flock,
    let go when it is closed or the last process holding it ends (a kill included); None while
    another process holds it. Read-only: a lock file of another user's is taken as well."""
    folder = os.path.isdir(path)
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_DIRECTORY if folder else os.O_CREAT)
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def open_atomic(
    path: str | os.PathLike[str], dir_fd: int | None = None, *, prefix: str | None = None
) -> Iterator[BinaryIO]:
    """Open a temporary file beside path for writing; rename it onto path only on success.

    The temporary file is `.NAME.poolpipe-HOST-PID-RANDOM.tmp`, created exclusively, never
    through a link. A writer killed before its rename (SIGKILL, a lost node) leaves it behind:
    the next open_atomic of the same path removes such files of writers that no longer live.

    With dir_fd, path is a plain name in that open directory and nothing is looked up by
    path again, so a directory swapped for a symlink meanwhile cannot redirect the write;
    prefix then starts the temporary file's name (host, pid, random hex and `.tmp` follow),
    and the caller removes what dead writers left (remove_stale_temporaries with its prefix).
    """
    if dir_fd is not None:
        name = os.fspath(path)
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"{name!r} is not a plain file name")
        fd, tmp = _create_temporary(dir_fd, prefix or _prefix(name))
        with _renamed(dir_fd, fd, tmp, name, shown=name, every=False) as fh:
            yield fh
        return
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise PoolpipeError(f"{str(target)!r} cannot be written: {_why(exc)}") from None
    try:
        try:
            with contextlib.suppress(OSError):  # best effort: a folder we cannot list is no loss
                remove_stale_temporaries(folder, _prefix(target.name))
            fd, tmp = _create_temporary(folder, _prefix(target.name))
        except OSError as exc:
            raise PoolpipeError(f"{str(target)!r} cannot be written: {_why(exc)}") from None
        with _renamed(folder, fd, tmp, target.name, shown=target, every=True) as fh:
            yield fh
    finally:
        os.close(folder)


def _create_temporary(dir_fd: int, prefix: str) -> tuple[int, str]:
    """A new temporary file in the open folder dir_fd, created exclusively: its fd and name."""
    for _ in range(100):
        tmp = temporary_name(prefix)
        try:
            return os.open(tmp, _TMP_FLAGS, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beginning {prefix!r}")


@contextlib.contextmanager
def _renamed(
    dir_fd: int, fd: int, tmp: str, name: str, *, shown: str | os.PathLike[str], every: bool
) -> Iterator[BinaryIO]:
    """Yield the temporary file fd for writing; synced, rename it to name, or remove it."""
    try:
        with _write_errors(shown), os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), 0o644)
        with _write_errors(shown, every=every):
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
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


def write_stdout(text: str) -> None:
    """Write text to standard output, unbuffered: a full disk or a file-size limit on a
    redirected output is one sentence, and leaves nothing buffered to fail again at exit."""
    data = text.encode("utf-8", "backslashreplace")  # a name not UTF-8 as its escapes
    if sys.stdout is None:  # started with standard output closed (>&-)
        raise PoolpipeError("standard output cannot be written: it is closed")
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
    digits in big), every text UTF-8 can hold (a file name's byte that is not UTF-8, a lone
    surrogate, as its \\udcXX escape); one sentence for a float that is not finite (JSON has
    no NaN or Infinity)."""
    if isinstance(obj, str):
        return _encodable(obj)
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        if obj.bit_length() < _SMALL_BITS:
            return obj
        key = f"\x00{_NONCE}:{len(big)}\x00"
        big[json.dumps(key)] = int_to_decimal(obj)
        return key
    if isinstance(obj, float):
        if not -sys.float_info.max <= obj <= sys.float_info.max:  # inf, -inf or nan
            raise PoolpipeError(
                f"the result's {where or 'value'} is {obj}, not a finite number, and strict "
                "JSON cannot hold it"
            )
        return obj
    if isinstance(obj, dict):
        return {
            _encodable(k) if isinstance(k, str) else k: _strict(
                v, big, f"{where}.{k}" if where else str(k)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_strict(v, big, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def _encodable(text: str) -> str:
    """text, its lone surrogates (the bytes of a name that is not UTF-8) as backslash escapes."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


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


P_FLOOR = 1e-300
"""The smallest p-value written as a number, in summary.txt and on the report: below it (and at
0, where the float ran out of digits) it is written '< 1e-300'."""


def r2_label(exact: dict) -> str:
    """R²'s name for an exact fit: "R² (uncentered)" where it has no intercept, as statsmodels'."""
    return "R²" if exact.get("fit_intercept", True) else "R² (uncentered)"


def interval_level(alpha: float) -> str:
    """A confidence interval's level for 0 < alpha < 1, exact to alpha's digits: "95%",
    "99.96%"; "1-1e-300" where that takes more than 12 digits."""
    from decimal import Decimal, localcontext  # not at import: the sum command starts without it

    with localcontext(prec=800):  # exact: alpha's digits reach 1e-324 at most
        text = format(((1 - Decimal(repr(alpha))) * 100).normalize(), "f")
    return f"{text}%" if len(text.replace(".", "")) <= 12 else f"1-{alpha!r}"
