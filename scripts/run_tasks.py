"""Rule run_tasks: run the manifest's file tasks through a queue to `threads` worker processes.

The tasks change files, so they are never run a second time for a single-process timing:
the timing record's serial_wall_s stays empty whatever timing.compare_serial says.
"""

import logging

from poolpipe.smk import run_script, write_timing
from poolpipe.tasks import run_to_file
from poolpipe.timing import Stopwatch


def main(smk):
    with Stopwatch() as watch:
        summary = run_to_file(smk.input.manifest, smk.input.root, smk.output.results, smk.threads)
    logging.info(
        "%d tasks: %d ok, %d failed, %d bytes",
        summary.tasks,
        summary.ok,
        summary.failed,
        summary.bytes,
    )
    write_timing(smk, "tasks", watch, summary.tasks, summary.bytes, smk.threads)


run_script(snakemake, main)  # noqa: F821
