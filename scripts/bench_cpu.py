"""Rule bench_cpu: the seed's CPU-bound loop at 1..threads processes, medians and an Amdahl fit."""

from poolpipe.cpubench import scaling
from poolpipe.report import write_rows_tsv
from poolpipe.smk import run_script, write_timing
from poolpipe.timing import Stopwatch


def main(smk):
    counts = list(range(1, smk.threads + 1))
    with Stopwatch() as watch:
        points = scaling(smk.params.iterations, counts, smk.params.repeats)
    write_rows_tsv(smk.output.scaling, points)
    runs = len(counts) * smk.params.repeats
    write_timing(smk, "bench", watch, items=runs, size=0, processes=smk.threads)


run_script(snakemake, main)  # noqa: F821
