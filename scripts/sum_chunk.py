"""Rule sum_chunk: sum one chunk's byte range with a pool of `threads` worker processes."""

import logging

from poolpipe.core import chunk_job, job_processes, run_script
from poolpipe.sum import processes_for, scanner_note, sum_ranges


def main(smk):
    if note := scanner_note():
        logging.warning(note)
    chunk_job(
        smk,
        "sum",
        lambda chunk, processes, serial, _: sum_ranges(
            [chunk], processes, strict=smk.params.strict, serial=serial
        ),
        lambda part: (part.numbers, part.bytes),
        used=lambda part: processes_for(part.bytes, job_processes(smk)),
    )


run_script(snakemake, main)  # noqa: F821
