"""Run a manifest to its results.tsv: in order, journaled, resumable."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from typing import BinaryIO

from poolpipe.core.outputs import refuse_overlap
from poolpipe.core.pool import StopOnSignals
from poolpipe.errors import PathError, PoolpipeError
from poolpipe.tasks.journal import Journal, Resume, journal_path, load_resume
from poolpipe.tasks.manifest import manifest_tasks, open_manifest
from poolpipe.tasks.queue import TaskPolicy, _Queue, task_files
from poolpipe.tasks.results import Summary, Task, TaskResult, write_results
from poolpipe.tasks.root import Root

_log = logging.getLogger(__name__)


def run_tasks(
    manifest: str | os.PathLike[str],
    root: str | os.PathLike[str],
    processes: int,
    *,
    in_flight: int | None = None,
    policy: TaskPolicy | None = None,
    resume: Resume | None = None,
    record: Callable[[TaskResult], None] | None = None,
) -> Iterator[TaskResult]:
    """Run a manifest's tasks in `processes` worker processes; one row per line, in order.
    With resume, rows it keeps are yielded as they were and the rest run (checked first);
    record sees each new row the moment it is known.

    A row recorded done is kept only while the task's files still hold what it says (every
    byte hashed: a read's file, a write's target, a copy's source and target), else the task
    runs again: the root may have changed since, with sizes and times kept. A file that a
    later task recorded done wrote again is that task's to check."""
    if processes < 1:
        raise PoolpipeError(f"processes must be at least 1, not {processes}")
    width = in_flight or 2 * processes
    with (
        open_manifest(manifest) as fh,
        Root(root, protected=_identity(fh)) as opened,
        StopOnSignals(deferred=True, redeliver=True) as stop,
    ):
        run = _Queue(opened, processes, stop, policy, record)
        last = 0
        rewritten = {} if resume is None else resume.last_writes(opened.key)
        try:
            # the root as given, not its real path: a copy of the workflow elsewhere (another
            # checkout, a cluster's scratch) gives the same rows, while another --root does not
            salt = os.fsencode(os.path.normpath(os.fspath(root)))
            piped = stat.S_ISFIFO(os.fstat(fh.fileno()).st_mode)
            wait = run.wait_readable if piped else None
            for seq, item in enumerate(manifest_tasks(fh, salt=salt, wait=wait)):
                last = item.line
                stop.check()
                while len(run.pending) + len(run.ready) >= width:
                    run.collect()
                    yield from run.in_order()
                digest = item.digest if isinstance(item, Task) else item.task_hash
                kept = None if resume is None else resume.carried(item.line, digest)
                if kept is not None and _checkable(opened, item, kept, rewritten):
                    assert isinstance(item, Task)
                    run.submit(seq, item, check=True, kept=kept)
                elif kept is not None:
                    run.add_row(seq, kept)
                elif isinstance(item, TaskResult):
                    run.add_row(seq, item)
                else:
                    run.submit(seq, item, check=resume is not None)
                yield from run.in_order()
            while run.pending:
                run.collect()
                yield from run.in_order()
            yield from run.in_order()  # rows that ended while a pipe's last line was awaited
            run.finish()
            stop.check()
            if run.changed:
                _log.warning(
                    "%d tasks recorded done ran again: their files no longer held what their "
                    "rows said",
                    run.changed,
                )
            if resume is not None and (extra := resume.beyond(last)):
                _log.warning("%d previous rows are for lines past the manifest's last", extra)
        except BaseException:
            run.abort()
            # a SIGTERM to the process group reaches the workers too: an error it caused here
            # (a task sent to a worker it just ended) is the stop, not a failure of its own
            stop.check()
            raise


def _checkable(
    root: Root, item: Task | TaskResult, kept: TaskResult, rewritten: dict[str, int]
) -> bool:
    """Whether a kept row is checked against the files: a task recorded done, none of whose
    files a later task recorded done wrote again."""
    if not (kept.ok and isinstance(item, Task)):
        return False
    try:
        reads, writes = task_files(root, item)
    except PathError:
        return False
    return all(rewritten.get(path, 0) <= item.line for path in (*reads, *writes))


def run_to_file(
    manifest: str | os.PathLike[str],
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    processes: int,
    policy: TaskPolicy | None = None,
    resume: str | None = None,
) -> Summary:
    """Run a manifest and write its results.tsv; every worker has stopped when this ends.

    resume is None (run every task), "ok" (keep every row of the previous run, as
    `parallel --resume`) or "failed" (run the failed ones again, as `--resume-failed`); a
    task with no row runs either way. Rows are journaled as they come, so that a run that
    is killed can be resumed."""
    refuse_overlap(
        inputs={"task manifest": manifest},
        outputs={"results file": out, "journal": journal_path(out)},
    )
    _refuse_inside_root(out, root)
    previous = None if resume is None else load_resume(out, rerun_failed=resume == "failed")
    if previous is not None and not previous.rows:
        _log.warning("no previous results at %r: every task runs", os.fspath(out))
    journal = Journal(journal_path(out), append=previous is not None)
    journal.open()
    try:
        with _file_size_limit_is_an_error():
            rows = run_tasks(
                manifest, root, processes, policy=policy, resume=previous, record=journal.record
            )
            with contextlib.closing(rows):
                summary = write_results(out, rows)
    except BaseException:
        journal.close()
        raise
    journal.close(remove=True)
    if summary.failed:
        _log.warning("%d of %d tasks failed: their rows say why", summary.failed, summary.tasks)
    return summary


def _identity(fh: BinaryIO) -> frozenset[tuple[int, int]]:
    """The (device, inode) of an open manifest that is a file a task could replace."""
    found = os.fstat(fh.fileno())
    return frozenset({(found.st_dev, found.st_ino)}) if stat.S_ISREG(found.st_mode) else frozenset()


def _refuse_inside_root(out: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
    """One sentence if the results file or its journal would lie inside the task root, where
    a task could overwrite them and the journal a task's file."""
    base = os.path.realpath(root).rstrip("/") + "/"
    for path in (out, journal_path(out)):
        if os.path.realpath(path).startswith(base):
            raise PoolpipeError(
                f"results file {os.fspath(out)!r} lies inside the task root "
                f"{os.fspath(root)!r}, where the tasks write: choose a path outside the root"
            )


@contextlib.contextmanager
def _file_size_limit_is_an_error() -> Iterator[None]:
    """Ignore SIGXFSZ while the run goes, so that a write past `ulimit -f` fails with EFBIG
    (a task's error row, or one sentence for the results) instead of killing the process;
    the workers, forked meanwhile, inherit it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGXFSZ, before)
