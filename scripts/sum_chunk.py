"""Rule sum_chunk: sum one chunk's byte range with a pool of `threads` worker processes."""

import logging

from poolpipe.core import (
    checked_manifest,
    job_processes,
    run_script,
    timed_with_serial,
    write_job_timing,
    write_json,
)
from poolpipe.sum import scanner_note, sum_ranges


def main(smk):
    dataset = smk.wildcards.dataset
    chunk = checked_manifest(smk.input.manifest, dataset=dataset)[int(smk.wildcards.chunk)]
    processes = job_processes(smk)
    if note := scanner_note():
        logging.warning(note)
    part, watch, serial_wall_s = timed_with_serial(
        lambda serial, _: sum_ranges([chunk], processes, strict=smk.params.strict, serial=serial),
        compare_serial=smk.params.compare_serial,
    )
    checked_manifest(smk.input.manifest, dataset=dataset)  # unchanged while it was read
    write_json(smk.output.part, part.to_json())
    write_job_timing(
        smk,
        "sum",
        watch,
        items=part.numbers,
        size=part.bytes,
        processes=processes,
        serial_wall_s=serial_wall_s,
        serial_note=smk.params.serial_note,
    )


run_script(snakemake, main)  # noqa: F821
