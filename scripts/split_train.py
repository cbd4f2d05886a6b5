"""Rule split_train: choose the columns, cut the rows into line-aligned byte ranges."""

from poolpipe.core import (
    Stopwatch,
    check_identity,
    identify,
    run_script,
    split_file,
    write_job_timing,
    write_json,
    write_manifest,
)
from poolpipe.train import choose_columns


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        identity = identify(smk.input[0])
        columns = choose_columns(
            smk.input[0],
            p.target,
            features=p.features,
            delimiter=p.delimiter,
            weights=p.weights,
        )
        ranges = split_file(smk.input[0], p.chunks, skip_header=True)
        check_identity(identity, dataset=smk.wildcards.dataset)
        write_json(smk.output.columns, columns.to_json())
        write_manifest(smk.output.manifest, ranges, identity)
    write_job_timing(smk, "train", watch, items=len(ranges), size=ranges[-1].end)


run_script(snakemake, main)  # noqa: F821
