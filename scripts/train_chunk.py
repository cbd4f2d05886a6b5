"""Rule train_chunk: summarise one chunk's rows with a pool of `threads` worker processes."""

from poolpipe.core import (
    checked_manifest,
    job_processes,
    run_script,
    timed_with_serial,
    write_job_timing,
    write_json,
)
from poolpipe.train import Columns, train_chunks


def main(smk):
    dataset = smk.wildcards.dataset
    chunk = checked_manifest(smk.input.manifest, dataset=dataset)[int(smk.wildcards.chunk)]
    columns = Columns.read(smk.input.columns)
    processes = job_processes(smk)
    (part,), watch, serial_wall_s = timed_with_serial(
        lambda serial, _: train_chunks(
            [chunk], columns, processes=processes, strict=smk.params.strict, serial=serial
        ),
        compare_serial=smk.params.compare_serial,
    )
    checked_manifest(smk.input.manifest, dataset=dataset)  # unchanged while it was read
    write_json(smk.output.part, part.to_json())
    write_job_timing(
        smk,
        "train",
        watch,
        items=part.rows,
        size=part.bytes,
        processes=processes,
        serial_wall_s=serial_wall_s,
        serial_note=smk.params.serial_note,
    )


run_script(snakemake, main)  # noqa: F821
