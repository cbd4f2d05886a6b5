"""Rule bench_cpu: the article's CPU-bound loop at 1..threads processes; medians, Amdahl fit."""

from poolpipe.bench import cpu_scaling
from poolpipe.core import Stopwatch, job_processes, run_script, tsv, write_job_timing


def main(smk):
    processes = job_processes(smk)
    counts = list(range(1, processes + 1))
    with Stopwatch() as watch:
        points = cpu_scaling(smk.params.iterations, counts, smk.params.repeats)
    tsv.write_records(smk.output.scaling, points)
    runs = len(counts) * smk.params.repeats
    write_job_timing(smk, "bench", watch, items=runs, size=0, processes=processes)


run_script(snakemake, main)  # noqa: F821
