"""Rule split_numbers: cut the numbers file into line-aligned byte ranges, a manifest of them."""

from poolpipe.core import Stopwatch, run_script, split_file, write_job_timing, write_manifest


def main(smk):
    with Stopwatch() as watch:
        ranges = split_file(smk.input[0], smk.params.chunks)
        write_manifest(smk.output.manifest, ranges)
    write_job_timing(smk, "sum", watch, items=len(ranges), size=ranges[-1].end)


run_script(snakemake, main)  # noqa: F821
