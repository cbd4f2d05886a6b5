"""Files confined beneath one root folder: no path, symlink or race leads outside it.

Every lookup walks a path one name at a time from an open descriptor of the root,
with O_NOFOLLOW, so the kernel never follows a symlink on its own: a symlink is
read and followed here, and only while it stays beneath the root. A '..' in a
task's own path is refused; one inside a symlink's target may climb back up, but
never above the root. Because each step opens a name inside an already open
folder, a folder swapped for a symlink between a check and a use is caught too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from dataclasses import dataclass, field

from poolpipe.core.inputs import check_input_folder
from poolpipe.errors import PathError

MAX_LINKS = 40
"""Symlinks followed in one lookup before it is refused (the kernel's own limit)."""

MAX_PATH_BYTES = 4096
"""Longest task path, in UTF-8 bytes (the kernel's PATH_MAX)."""

MAX_DEPTH = 64
"""Most folders a path may lie below the root, as given or as its symlinks lead."""

_TOO_DEEP = f"the path lies more than {MAX_DEPTH} folders below the root"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass
class _Walk:
    """A lookup in progress: open folders from the root down, their names, names still to go."""

    fds: list[int]
    names: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    links: int = 0
    link: str = ""

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()

    def shown(self, part: str) -> str:
        """The real path of name part in the folder the walk holds."""
        return "/".join([*self.names, part])

    def here(self) -> str:
        """The real path of the folder the walk holds ('.' for the root)."""
        return "/".join(self.names) or "."


@dataclass(frozen=True)
class Target:
    """Where a file will be written: an open folder beneath the root and a name in it."""

    dir_fd: int
    name: str
    path: str

    def close(self) -> None:
        """Close the folder's descriptor."""
        os.close(self.dir_fd)


class Root:
    """An open root folder; every path it hands out lies beneath it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        alias: str | None = None,
        protected: frozenset[tuple[int, int]] = frozenset(),
    ) -> None:
        given = os.fspath(path)
        self.protected = protected
        """(device, inode) of the files no task may replace: the manifest being run."""
        check_input_folder(given, "task root")
        self.path = os.path.realpath(given)
        # the root as given (a symlink to it, say): an absolute task path may begin with it or
        # with the real path; either way it is looked up from the root opened here
        self.alias = alias or os.path.abspath(given)
        self._prefixes = {self.path, self.alias}
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        """Close the root's descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def parts(self, path: object) -> list[str]:
        """The names of a task path below the root; PathError if it is not one."""
        if not isinstance(path, str) or not path:
            raise PathError("the path must be a non-empty string")
        if "\0" in path:
            raise PathError("the path contains a NUL character")
        try:
            size = len(os.fsencode(path))
        except UnicodeEncodeError:
            raise PathError("the path is not valid Unicode text") from None
        if size > MAX_PATH_BYTES:
            raise PathError(f"the path is longer than {MAX_PATH_BYTES} bytes")
        if os.path.isabs(path):
            inside = self._below(path)
            if inside is None:
                raise PathError("an absolute path outside the root is refused")
            path = inside
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PathError("a '..' in a task path is refused")
        if not parts:
            raise PathError("the path names the root folder itself")
        if path.endswith(("/", "/.")):
            raise PathError("the path ends with '/', so it names a folder, not a file")
        if len(parts) > MAX_DEPTH + 1:
            raise PathError(_TOO_DEEP)
        return parts

    def _below(self, absolute: str) -> str | None:
        """absolute's part below the root ('' for the root), or None if it is elsewhere."""
        for prefix in self._prefixes:
            base = prefix.rstrip("/")
            if absolute.rstrip("/") == base:
                return ""
            if absolute.startswith(base + "/"):
                return absolute[len(base) + 1 :]
        return None

    def open_file(self, path: str) -> tuple[int, str]:
        """Open a regular file beneath the root for reading: its descriptor and real path."""
        walk = self._start(path)
        try:
            while True:
                part = self._descend(walk)
                if part is None:
                    raise PathError(f"{walk.here()!r} is a folder")
                try:
                    fd = os.open(part, _FILE, dir_fd=walk.fds[-1])
                except OSError as exc:
                    if self._follow_failed(walk, part, exc):
                        continue
                    raise _missing(exc, walk.shown(part)) from None
                mode = os.fstat(fd).st_mode
                if not stat.S_ISREG(mode):
                    os.close(fd)
                    kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
                    raise PathError(f"{walk.shown(part)!r} is {kind}")
                return fd, walk.shown(part)
        finally:
            walk.close()

    def target(self, path: str, create: bool = True) -> Target:
        """Where a file written to path goes (folders made, with create), symlinks followed."""
        walk = self._start(path)
        try:
            while True:
                part = self._descend(walk, create=create)
                if part is None:
                    raise PathError(f"{walk.here()!r} is a folder")
                if self._follow_link(walk, part):
                    continue
                return Target(walk.fds.pop(), part, walk.shown(part))
        finally:
            walk.close()

    def check_replaceable(self, target: Target) -> None:
        """PathError if a write may not replace target: a folder, or a file no task may replace
        (the manifest being run)."""
        try:
            found = os.stat(target.name, dir_fd=target.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(found.st_mode):
            raise PathError(f"{target.path!r} is a folder")
        if (found.st_dev, found.st_ino) in self.protected:
            raise PathError(
                f"{target.path!r} is the task manifest being run, which no task replaces"
            )

    def key(self, path: str) -> str:
        """The real path below the root that path names, as far as it exists (for ordering)."""
        walk = self._start(path)
        try:
            while True:
                part = self._descend(walk, missing_ok=True)
                if part is None:
                    return posixpath.normpath(walk.here())
                if self._follow_link(walk, part):
                    continue
                return walk.shown(part)
        finally:
            walk.close()

    def _start(self, path: str) -> _Walk:
        parts = self.parts(path)
        return _Walk(fds=[os.dup(self.fd)], todo=parts)

    def _descend(self, walk: _Walk, create: bool = False, missing_ok: bool = False) -> str | None:
        """The last name on walk's path, each folder before it opened (or made, with create)."""
        while walk.todo:
            part = walk.todo.pop(0)
            if part == "..":
                if not walk.names:
                    raise PathError(f"the symlink {walk.link!r} points outside the root")
                os.close(walk.fds.pop())
                walk.names.pop()
                continue
            if not walk.todo:
                return part
            if len(walk.names) >= MAX_DEPTH:
                raise PathError(_TOO_DEEP)
            try:
                fd = os.open(part, _DIR, dir_fd=walk.fds[-1])
            except OSError as exc:
                if self._follow_failed(walk, part, exc):
                    continue
                if exc.errno == errno.ENOENT and create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=walk.fds[-1])
                    walk.todo.insert(0, part)
                    continue
                if exc.errno == errno.ENOENT and missing_ok:
                    # a folder is missing: the rest of the path is kept as names
                    walk.names += [part, *walk.todo]
                    walk.todo.clear()
                    return None
                raise _missing(exc, walk.shown(part)) from None
            walk.fds.append(fd)
            walk.names.append(part)
        return None  # the path resolved to the folder walk holds

    def _follow_link(self, walk: _Walk, part: str) -> bool:
        """If the name part is a symlink, put its target on walk's path and say so."""
        try:
            target = os.readlink(part, dir_fd=walk.fds[-1])
        except OSError:
            return False
        self._follow(walk, part, target)
        return True

    def _follow_failed(self, walk: _Walk, part: str, exc: OSError) -> bool:
        """After an open of part failed with exc, follow part if it is a symlink."""
        return exc.errno in (errno.ELOOP, errno.ENOTDIR) and self._follow_link(walk, part)

    def _follow(self, walk: _Walk, part: str, target: str) -> None:
        walk.links += 1
        if walk.links > MAX_LINKS:
            raise PathError(f"more than {MAX_LINKS} symlinks on the path")
        walk.link = walk.shown(part)
        if os.path.isabs(target):
            inside = self._below(target)
            if inside is None:
                raise PathError(f"the symlink {walk.shown(part)!r} points outside the root")
            for fd in walk.fds[1:]:
                os.close(fd)
            del walk.fds[1:]
            walk.names.clear()
            target = inside
        walk.todo[:0] = [p for p in target.split("/") if p not in ("", ".")]


def _missing(exc: OSError, shown: str) -> PathError:
    if exc.errno == errno.ENOENT:
        return PathError(f"{shown!r} does not exist")
    if exc.errno == errno.ENOTDIR:
        return PathError(f"{shown!r} is not a folder")
    return PathError(f"{shown!r}: {exc.strerror}")
