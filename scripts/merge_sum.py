"""Rule merge_sum: merge the chunks' partial sums into results/sum/<dataset>/total.json."""

from poolpipe.core import (
    Stopwatch,
    checked_manifest,
    read_json,
    run_script,
    write_job_timing,
    write_json,
)
from poolpipe.sum import SumPart, merge_parts, result_json


def main(smk):
    source = checked_manifest(
        smk.input.manifest, dataset=smk.wildcards.dataset, chunks=len(smk.input.parts)
    )[0].path
    with Stopwatch() as watch:
        part = merge_parts(SumPart.from_json(read_json(path)) for path in smk.input.parts)
        total = result_json(part, source, chunks=len(smk.input.parts), strict=smk.params.strict)
        write_json(smk.output.total, total)
    write_job_timing(smk, "sum", watch, items=part.numbers, size=part.bytes)


run_script(snakemake, main)  # noqa: F821
