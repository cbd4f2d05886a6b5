"""Rule run_tasks: run the manifest's file tasks through a queue to `threads` worker processes.

The tasks change files, so they are never run a second time for a single-process timing:
the timing record's serial_wall_s stays empty whatever timing.compare_serial says.
"""

import logging

from poolpipe.core import Stopwatch, job_processes, run_script, write_job_timing
from poolpipe.tasks import TaskPolicy, run_to_file


def main(smk):
    processes = job_processes(smk)
    with Stopwatch() as watch:
        summary = run_to_file(
            smk.input.manifest,
            smk.input.root,
            smk.output.results,
            processes=processes,
            policy=TaskPolicy(
                timeout_s=smk.params.timeout_s,
                retries=smk.params.retries,
                backoff_s=smk.params.backoff_s,
                backoff_max_s=smk.params.backoff_max_s,
            ),
        )
    logging.info(
        "%d tasks: %d ok, %d failed, %d bytes",
        summary.tasks,
        summary.ok,
        summary.failed,
        summary.bytes,
    )
    write_job_timing(
        smk, "tasks", watch, items=summary.tasks, size=summary.bytes, processes=processes
    )


run_script(snakemake, main)  # noqa: F821
