"""Rule bench_overhead: what starting a pool and dispatching a task cost on this machine."""

from poolpipe.bench import measure_overhead
from poolpipe.core import Stopwatch, job_processes, run_script, tsv, write_job_timing


def main(smk):
    counts = list(range(1, job_processes(smk) + 1))
    with Stopwatch() as watch:
        points = measure_overhead(counts, repeats=smk.params.repeats, tasks=smk.params.tasks)
    tsv.write_records(smk.output.overhead, points)
    runs = len(counts) * smk.params.repeats * 2
    write_job_timing(smk, "bench", watch, items=runs, size=0, processes=max(counts))


run_script(snakemake, main)  # noqa: F821
