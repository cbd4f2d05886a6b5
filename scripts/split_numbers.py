"""Rule split_numbers: cut the numbers file into line-aligned byte ranges, a manifest of them
that records the input's identity."""

from poolpipe.core import (
    Stopwatch,
    check_identity,
    identify,
    run_script,
    split_file,
    write_job_timing,
    write_manifest,
)


def main(smk):
    with Stopwatch() as watch:
        identity = identify(smk.input[0])
        ranges = split_file(smk.input[0], smk.params.chunks)
        check_identity(identity, dataset=smk.wildcards.dataset)
        write_manifest(smk.output.manifest, ranges, identity)
    write_job_timing(smk, "sum", watch, items=len(ranges), size=ranges[-1].end)


run_script(snakemake, main)  # noqa: F821
