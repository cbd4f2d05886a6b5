"""Glue between Snakemake's `script:` directive and the library: logging, errors, exit codes,
the CPUs a job may use, and the skeletons of the split and chunk rules."""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TextIO, TypeVar

from poolpipe.core import timing
from poolpipe.core.chunks import (
    Range,
    checked_chunk,
    checked_manifest,
    iter_blocks,
    split_file,
    write_manifest,
)
from poolpipe.core.cpu import available_cpus
from poolpipe.core.identity import check_identity, identify
from poolpipe.core.outputs import write_json
from poolpipe.core.timing import Stopwatch, timed_with_serial
from poolpipe.errors import run_guarded

R = TypeVar("R")


class _JobLog(io.TextIOBase):
    """A job's log file, to stand in for stderr. A write the disk refuses (full, over a quota or
    a file-size limit) goes to the console from then on: the job's one sentence is still seen,
    and the interpreter's last flush at exit cannot fail ("lost sys.stderr", exit 120)."""

    def __init__(self, path: str | os.PathLike[str], console: TextIO) -> None:
        self.console = console
        self.failed = False
        try:
            self._file: TextIO | None = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115
        except OSError:
            self._file, self.failed = None, True

    def _give_up(self) -> None:
        self.failed = True
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()  # its buffer cannot be flushed; the file is closed anyway
        self._file = None

    def write(self, text: str) -> int:
        if self._file is not None:
            try:
                return self._file.write(text)  # line-buffered: a full disk shows here
            except OSError:
                self._give_up()
        return self.console.write(text)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError:
                self._give_up()

    def fileno(self) -> int:
        return (self._file or self.console).fileno()

    def isatty(self) -> bool:
        return False


def run_script(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run main(snakemake), its log as stderr; on error, exit non-zero with one sentence."""
    log_path = snakemake.log[0] if snakemake.log else None
    console = sys.stderr
    log = _JobLog(log_path, console) if log_path else None
    if log is not None:
        sys.stderr = log
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.info("%s running: %s", job_name(snakemake), where())

    def action() -> int:
        main(snakemake)
        return 0

    code = run_guarded(action, prog=f"rule {snakemake.rule}")
    if code and log_path and log is not None and not log.failed:
        sys.stderr.flush()
        with open(log_path, encoding="utf-8") as fh:
            console.write(fh.read().splitlines()[-1] + "\n")
    # The job is over: the collections of the interpreter's exit need not walk what it loaded
    # (Snakemake, a pool's modules), 18 ms of the exit where 5 ms are left.
    gc.freeze()
    sys.exit(code)


def job_name(snakemake: Any) -> str:
    """The rule and wildcards of a job, e.g. 'rule sum_chunk (chunk=3)'."""
    wildcards = ", ".join(f"{k}={v}" for k, v in snakemake.wildcards.items())
    return f"rule {snakemake.rule}" + (f" ({wildcards})" if wildcards else "")


def where() -> str:
    """Where this job runs: the SLURM job (if any), host and the CPUs it may use."""
    slurm = os.environ.get("SLURM_JOB_ID")
    place = f"SLURM job {slurm} on " if slurm else ""
    return f"{place}{os.uname().nodename}, {available_cpus()} CPUs"


def job_processes(snakemake: Any) -> int:
    """Processes for a job's pool: its threads, never more than the CPUs it may run on.

    Under SLURM the affinity mask is the job's grant (cpus_per_task), so the pool uses
    exactly what SLURM granted.
    """
    return max(1, min(snakemake.threads, available_cpus()))


def job_attempt(snakemake: Any) -> int | None:
    """Snakemake's attempt number of this job (1 the first time), where the job was given it.

    Snakemake's script object has no attempt of its own; profiles/default passes it as a
    resource (default-resources: attempt), which a rule never needs to declare.
    """
    found = getattr(snakemake, "attempt", None)
    if found is None:
        found = getattr(getattr(snakemake, "resources", None), "attempt", None)
    return None if found is None else int(found)


def write_job_timing(
    snakemake: Any,
    stage: str,
    watch: Stopwatch,
    *,
    items: int,
    size: int,
    processes: int = 1,
    serial_wall_s: float | None = None,
    serial_note: str | None = None,
) -> None:
    """Write the job's timing record to its `timing` output, with its attempt number (and, for
    a chunk job without a one-process run, why there is none)."""
    chunk = snakemake.wildcards.get("chunk")
    timing.write_timing(
        snakemake.output.timing,
        stage=stage,
        rule=snakemake.rule,
        chunk=None if chunk is None else int(chunk),
        watch=watch,
        items=items,
        size=size,
        processes=processes,
        serial_wall_s=serial_wall_s,
        serial_note=serial_note,
        attempt=job_attempt(snakemake),
    )


def split_job(
    snakemake: Any,
    stage: str,
    look: Callable[[str], tuple[dict[str, Any], int | None]] | None = None,
    *,
    skip_header: bool = False,
) -> None:
    """Run a split rule: cut input[0] into params.chunks line-aligned byte ranges, write their
    manifest with the input's identity, and the job's timing record.

    look(path), where given, is the stage's own pass over the whole input before the cut (its
    columns, its URL index); it returns the JSON outputs to write, by path, and the item count
    for the timing record (None: the number of ranges). The input is checked to be unchanged
    after both passes, before anything is written.
    """
    path = snakemake.input[0]
    with Stopwatch() as watch:
        identity = identify(path)
        outputs, items = look(path) if look is not None else ({}, None)
        ranges = split_file(path, snakemake.params.chunks, skip_header=skip_header)
        check_identity(identity, dataset=snakemake.wildcards.dataset)
        for out, data in outputs.items():
            write_json(out, data)
        write_manifest(snakemake.output.manifest, ranges, identity)
    size = ranges[-1].end
    write_job_timing(
        snakemake, stage, watch, items=len(ranges) if items is None else items, size=size
    )


def chunk_job(
    snakemake: Any,
    stage: str,
    work: Callable[[Range, int, bool, Any], R],
    tally: Callable[[R], tuple[int, int]],
    *,
    used: Callable[[R], int] | None = None,
    write_part: bool = True,
    compare_serial: bool | None = None,
    serial_note: str | None = None,
    setup: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
) -> R:
    """Run a chunk rule's work on its byte range and write the job's timing record.

    work(chunk, processes, serial, ctx) runs with a pool of the job's processes (see
    timed_with_serial for serial, ctx and setup), and again in one process where compare_serial
    (default: params.compare_serial) asks; tally(result) gives the (items, bytes) it did, and
    used(result), where given, the processes it really ran (default: the job's). The manifest
    is checked again after the work, so a chunk read from an input that changed fails; then the
    result's to_json() goes to output.part (unless write_part is off: the work wrote its own)
    and the timing record is written last. Returns the pool's result.
    """
    params = snakemake.params
    dataset = snakemake.wildcards.dataset
    chunk = checked_chunk(
        snakemake.input.manifest, dataset=dataset, index=int(snakemake.wildcards.chunk)
    )
    processes = job_processes(snakemake)
    compare = params.compare_serial if compare_serial is None else compare_serial
    if compare:
        # read once, untimed: else the pool's run alone reads from the disk and the one-process
        # rerun finds the page cache warm (a cold 341 MB chunk read its "speedup" as 0.39)
        for _ in iter_blocks(chunk):
            pass
    result, watch, serial_wall_s = timed_with_serial(
        lambda serial, ctx: work(chunk, processes, serial, ctx),
        compare_serial=compare,
        setup=setup,
    )
    checked_manifest(snakemake.input.manifest, dataset=dataset)  # unchanged while it was read
    if write_part:
        write_json(snakemake.output.part, result.to_json())
    items, size = tally(result)
    write_job_timing(
        snakemake,
        stage,
        watch,
        items=items,
        size=size,
        processes=processes if used is None else used(result),
        serial_wall_s=serial_wall_s,
        serial_note=params.serial_note if serial_note is None else serial_note,
    )
    return result
