"""Rule bench_ipc: what Pipe, Queue, shared_memory and a file offset cost per message size."""

from poolpipe.bench import ipc_costs
from poolpipe.core import Stopwatch, run_script, tsv, write_job_timing


def main(smk):
    with Stopwatch() as watch:
        points = ipc_costs(smk.params.sizes, smk.params.budget_mb << 20)
    tsv.write_records(smk.output.ipc, points)
    write_job_timing(smk, "bench", watch, items=len(points), size=0, processes=2)


run_script(snakemake, main)  # noqa: F821
