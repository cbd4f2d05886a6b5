"""The task manifest: JSON Lines, each non-blank line a Task or the error row saying why not."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from typing import BinaryIO

from poolpipe.core.chunks import BLOCK_SIZE
from poolpipe.core.inputs import PROC_LIKE, TEXT_PROBE, not_empty, not_text
from poolpipe.core.pool import StopOnSignals
from poolpipe.errors import PoolpipeError
from poolpipe.tasks.results import Task, TaskResult

MAX_LINE = BLOCK_SIZE
"""Longest manifest line, newline included (4 MiB, as in sum and crawl); longer: an error row."""

OPS = ("read", "write", "copy", "checksum")

_KEYS = {"op", "path", "content", "src"}

_TOO_LONG = f"the line is longer than {MAX_LINE >> 20} MiB"


def _refused(line: int, message: str, op: object = "", path: object = "") -> TaskResult:
    return TaskResult(
        line=line,
        op=op if isinstance(op, str) else "",
        path=path if isinstance(path, str) else "",
        ok=False,
        error=message,
    )


class _RepeatedKey(ValueError):
    """A JSON object that gives one key twice (json keeps the last one, silently)."""


def _once(pairs: list[tuple[str, object]]) -> dict[str, object]:
    item = dict(pairs)
    if len(item) < len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _RepeatedKey(f"the key {twice!r} is given twice")
    return item


def _json_text(value: object) -> str:
    """A JSON value as the manifest writes it (null, not None), cut to 40 characters."""
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "..."


def parse_task(line: int, text: bytes) -> Task | TaskResult:
    """A manifest line as a Task, or the error row saying why it is not one."""
    try:  # UTF-8 only: json.loads would take bytes for UTF-16 or -32 by their NULs
        item = json.loads(text.decode("utf-8"), object_pairs_hook=_once)
    except UnicodeDecodeError:
        return _refused(line, "the line is not UTF-8 text")
    except _RepeatedKey as exc:
        return _refused(line, str(exc))
    except ValueError as exc:
        why = str(exc).split(":")[0]
        if why.startswith("Exceeds the limit"):  # Python's guard on int("9" * 5000)
            why = f"a number of over {sys.get_int_max_str_digits()} digits"
        return _refused(line, f"the line is not valid JSON ({why})")
    except RecursionError:
        return _refused(line, "the line is not valid JSON (nested too deeply)")
    if not isinstance(item, dict):
        return _refused(line, "the line is not a JSON object")
    op, path = item.get("op"), item.get("path")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        return _refused(line, f"unknown key {unknown[0]!r}", op, path)
    if "op" not in item:
        return _refused(line, "the task has no 'op'", op, path)
    if op not in OPS:
        return _refused(line, f"unknown op {_json_text(op)} (one of {', '.join(OPS)})", op, path)
    if not isinstance(path, str) or not path:
        return _refused(line, "'path' must be a non-empty string", op, path)
    content, src = item.get("content"), item.get("src")
    if op == "write" and not isinstance(content, str):
        return _refused(line, "a write task needs 'content', a string", op, path)
    if op == "write" and not _is_text(content):
        return _refused(line, "'content' is not valid Unicode text", op, path)
    if op != "write" and "content" in item:
        return _refused(line, "'content' belongs only to write tasks", op, path)
    if op == "copy" and (not isinstance(src, str) or not src):
        return _refused(line, "a copy task needs 'src', a non-empty string", op, path)
    if op != "copy" and "src" in item:
        return _refused(line, "'src' belongs only to copy tasks", op, path)
    return Task(line=line, op=op, path=path, content=content, src=src)


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_manifest(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a task manifest, a regular file or a pipe; one sentence if it cannot be used."""
    shown = repr(os.fspath(path))
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise PoolpipeError(f"task manifest {shown} is not a regular file or a pipe")
        if stat.S_ISFIFO(mode):
            # a pipe's open waits for its writer: a signal must end that wait, not be held
            # for a check that never comes
            with StopOnSignals():
                fh = open(path, "rb")  # noqa: SIM115 (the caller closes it)
        else:
            fh = open(path, "rb")  # noqa: SIM115 (the caller closes it)
        if stat.S_ISREG(mode) and os.fstat(fh.fileno()).st_size == 0 and not_empty(path):
            fh.close()
            raise PoolpipeError(f"task manifest {shown} {PROC_LIKE}")
        # a file's first bytes say if it is compressed or UTF-16 (a pipe's cannot be read
        # twice); a line of NULs is a bad line of its own, an error row
        head = os.pread(fh.fileno(), TEXT_PROBE, 0) if stat.S_ISREG(mode) else b""
        found = not_text(head, nuls=False)
        if found:
            fh.close()
            raise PoolpipeError(f"task manifest {shown} cannot be read as lines: it is {found}")
        return fh
    except FileNotFoundError:
        raise PoolpipeError(f"task manifest {shown} does not exist") from None
    except IsADirectoryError:
        raise PoolpipeError(f"task manifest {shown} is a folder") from None
    except OSError as exc:
        raise PoolpipeError(f"task manifest {shown}: {exc.strerror}") from None


PIPE_READ = 1 << 16
"""Bytes asked of a pipe manifest at a time."""


class PipeLines:
    """readline(limit) over a pipe, each read made once wait(fd) has seen it readable: a writer
    that keeps the pipe open and says nothing holds back no signal and no task's timeout."""

    def __init__(self, fd: int, wait: Callable[[int], None]) -> None:
        self.fd, self.wait = fd, wait
        self.buffer = bytearray()
        self.ended = False

    def readline(self, limit: int) -> bytes:
        """The next line, newline kept, or its first limit bytes; b'' at the end."""
        while True:
            nl = self.buffer.find(b"\n", 0, limit)
            if nl >= 0 or len(self.buffer) >= limit or self.ended:
                size = nl + 1 if nl >= 0 else min(limit, len(self.buffer))
                line = bytes(self.buffer[:size])
                del self.buffer[:size]
                return line
            self.wait(self.fd)
            data = os.read(self.fd, PIPE_READ)
            self.ended = not data
            self.buffer += data


def manifest_lines(
    fh: BinaryIO, wait: Callable[[int], None] | None = None
) -> Iterator[tuple[int, bytes | None]]:
    """(number, text) of every line to the end of the file, whatever size it reports; the text
    is None for a line over MAX_LINE bytes, whose bytes are skipped (memory stays bounded).
    With wait, a pipe is read as PipeLines reads it."""
    readline = fh.readline if wait is None else PipeLines(fh.fileno(), wait).readline
    number = 0
    while text := readline(MAX_LINE):
        number += 1
        if len(text) == MAX_LINE and not text.endswith(b"\n") and _skip_line(readline):
            yield number, None
        elif number == 1 and text.startswith(b"\xef\xbb\xbf"):
            yield number, text[3:]  # a UTF-8 byte-order mark, as every other input ignores it
        else:
            yield number, text


def _skip_line(readline: Callable[[int], bytes]) -> bool:
    """Read past the rest of the current line; whether there was any."""
    skipped = False
    while rest := readline(MAX_LINE):
        skipped = True
        if rest.endswith(b"\n"):
            break
    return skipped


def line_hash(text: bytes | None, salt: bytes = b"") -> str:
    """A short hash of a manifest line, blanks around it ignored, and of salt (the task root
    as given, so that a row is only ever kept for the same task in the same root); ''
    for an over-long line."""
    if text is None:
        return ""
    return hashlib.sha256(salt + b"\0" + text.strip() if salt else text.strip()).hexdigest()[:16]


def manifest_tasks(
    fh: BinaryIO, *, salt: bytes = b"", wait: Callable[[int], None] | None = None
) -> Iterator[Task | TaskResult]:
    """Every non-blank line of an open JSON Lines manifest, as a Task or an error row, streamed,
    each carrying the hash of its line (and salt, see line_hash); wait as manifest_lines."""
    for number, text in manifest_lines(fh, wait):
        digest = line_hash(text, salt)
        if text is None:
            item: Task | TaskResult = _refused(number, _TOO_LONG)
        elif not text.strip():
            continue
        else:
            item = parse_task(number, text)
        if isinstance(item, Task):
            yield dataclasses.replace(item, digest=digest)
        else:
            yield dataclasses.replace(item, task_hash=digest)
