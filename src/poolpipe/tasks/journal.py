"""The journal of a run and what --resume takes from it: rows recorded as tasks finish.

While a run goes, each task's row is appended to `<results>.journal` the moment its outcome
arrives, in one write(2), before any task that touches the same files may start; the final
results.tsv is then written in manifest order and the journal removed. A run killed at any
point (SIGKILL included) leaves every finished task in the journal or, for a write or copy
that finished in the instant before its row, in its target: a resumed run checks such a
target and records it done without writing it again (see ops.run_task's check).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from poolpipe.core import tsv
from poolpipe.errors import PoolpipeError
from poolpipe.tasks.results import FIELDS, TaskResult

HEADER = "\t".join(FIELDS) + "\n"


def journal_path(results: str | os.PathLike[str]) -> Path:
    """Where the journal of a run writing `results` goes."""
    path = Path(results)
    return path.with_name(path.name + ".journal")


class Journal:
    """An append-only TSV of rows, each written whole with one write(2) as it comes."""

    def __init__(self, path: str | os.PathLike[str], *, append: bool) -> None:
        self.path = Path(path)
        self.append = append
        self._fd = -1

    def record(self, row: TaskResult) -> None:
        """Append a row (the file is made, or emptied unless appending, on the first row)."""
        if self._fd < 0:
            self._open()
        try:
            _write_all(self._fd, tsv.line(row.cells()).encode("utf-8"))
        except OSError as exc:
            raise PoolpipeError(f"journal {str(self.path)!r}: {exc.strerror}") from None

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        if not self.append:
            flags |= os.O_TRUNC
        try:
            self._fd = os.open(self.path, flags, 0o644)
            if os.fstat(self._fd).st_size == 0:
                _write_all(self._fd, HEADER.encode())
            elif self.append:
                _end_torn_line(self._fd, self.path)
        except OSError as exc:
            raise PoolpipeError(f"journal {str(self.path)!r}: {exc.strerror}") from None

    def close(self, *, remove: bool = False) -> None:
        """Close the journal; remove it too once the results are written."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if remove:
            self.path.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _end_torn_line(fd: int, path: Path) -> None:
    """Start a fresh line if the file's last line was cut off (its row is then ignored)."""
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        torn = fh.read(1) != b"\n"
    if torn:
        _write_all(fd, b"\n")


def _int(text: str) -> int | None:
    return int(text) if text else None


def _seconds(text: str) -> float | None:
    value = float(text) if text else None
    if value is not None and not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_row(line: str) -> TaskResult:
    """A results.tsv line as the row it was written from (ValueError if it is not one)."""
    cells = [tsv.unescape(cell) for cell in line.rstrip("\n").split("\t")]
    if len(cells) != len(FIELDS) or cells[3] not in ("true", "false"):
        raise ValueError("wrong columns")
    values = dict(zip(FIELDS, cells, strict=True))
    line_no, attempts = int(values["line"]), int(values["attempts"])
    if line_no < 1 or attempts < 0:
        raise ValueError("line or attempts out of range")
    return TaskResult(
        line=line_no,
        op=values["op"],
        path=values["path"],
        ok=values["ok"] == "true",
        bytes=_int(values["bytes"]),
        sha256=values["sha256"],
        error=values["error"],
        attempts=attempts,
        start=_seconds(values["start"]),
        runtime_s=_seconds(values["runtime_s"]),
        worker=_int(values["worker"]),
        task_hash=values["task_hash"],
    )


def read_rows(path: Path, *, torn_ok: bool) -> Iterator[TaskResult]:
    """The rows of a results file or journal; one sentence if it is not one. With torn_ok,
    a last line cut off by a kill (no newline) is left out."""
    shown = repr(str(path))
    try:
        with path.open(encoding="utf-8", newline="\n") as fh:
            first = fh.readline()
            if torn_ok and not first.endswith("\n"):
                return
            if first != HEADER:
                raise PoolpipeError(f"{shown} is not a results file of this version of poolpipe")
            for number, text in enumerate(fh, start=2):
                if torn_ok and not text.endswith("\n"):
                    break
                if text.strip() == "" and torn_ok:
                    continue
                try:
                    yield parse_row(text)
                except ValueError:
                    raise PoolpipeError(f"{shown} line {number} is not a results row") from None
    except UnicodeDecodeError:
        raise PoolpipeError(f"{shown} is not UTF-8 text") from None
    except OSError as exc:
        raise PoolpipeError(f"{shown} cannot be read: {exc.strerror}") from None


@dataclass
class Resume:
    """The rows a resumed run starts from, by manifest line, and which of them run again."""

    rows: dict[int, TaskResult] = field(default_factory=dict)
    rerun_failed: bool = False
    sources: dict[int, Path] = field(default_factory=dict)
    """The file each row was read from."""

    def carried(self, line: int, digest: str) -> TaskResult | None:
        """The row kept for a manifest line, or None if the task runs; one sentence if the
        row was recorded for another task."""
        row = self.rows.get(line)
        if row is None:
            return None
        if row.task_hash != digest:
            raise PoolpipeError(
                f"{str(self.sources[line])!r} records another task at manifest line {line}: it "
                "belongs to another manifest (run without --resume to start again)"
            )
        return None if (not row.ok and self.rerun_failed) else row

    def beyond(self, last: int) -> int:
        """How many rows are for lines after the manifest's last one."""
        return sum(line > last for line in self.rows)


def load_resume(results: str | os.PathLike[str], *, rerun_failed: bool) -> Resume:
    """The rows of a previous run's results file, overridden by its journal's newer ones."""
    out, journal = Path(results), journal_path(results)
    resume = Resume(rerun_failed=rerun_failed)
    for path, torn_ok in ((out, False), (journal, True)):
        if path.is_file():
            for row in read_rows(path, torn_ok=torn_ok):
                resume.rows[row.line] = row
                resume.sources[row.line] = path
    return resume
