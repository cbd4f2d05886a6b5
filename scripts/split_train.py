"""Rule split_train: choose the columns, cut the rows into line-aligned byte ranges."""

from poolpipe.chunks import split_file, write_manifest
from poolpipe.files import write_json
from poolpipe.smk import run_script, write_timing
from poolpipe.table import choose_columns
from poolpipe.timing import Stopwatch


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        columns = choose_columns(smk.input[0], p.target, p.features, p.delimiter)
        ranges = split_file(smk.input[0], p.chunks, skip_header=True)
        write_json(smk.output.columns, columns.to_json())
        write_manifest(smk.output.manifest, ranges)
    write_timing(smk, "train", watch, items=len(ranges), size=ranges[-1].end)


run_script(snakemake, main)  # noqa: F821
