"""Rule split_numbers: cut the numbers file into line-aligned byte ranges, a manifest of them."""

from poolpipe.chunks import split_file, write_manifest
from poolpipe.smk import run_script, write_timing
from poolpipe.timing import Stopwatch


def main(smk):
    with Stopwatch() as watch:
        ranges = split_file(smk.input[0], smk.params.chunks)
        write_manifest(smk.output.manifest, ranges)
    write_timing(smk, "sum", watch, items=len(ranges), size=ranges[-1].end)


run_script(snakemake, main)  # noqa: F821
