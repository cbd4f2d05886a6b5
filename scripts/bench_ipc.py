"""Rule bench_ipc: what Pipe, Queue, shared_memory and a file offset cost per message size."""

from poolpipe.ipcbench import run
from poolpipe.report import write_rows_tsv
from poolpipe.smk import run_script, write_timing
from poolpipe.timing import Stopwatch


def main(smk):
    with Stopwatch() as watch:
        points = run(smk.params.sizes, smk.params.budget_mb << 20)
    write_rows_tsv(smk.output.ipc, points)
    write_timing(smk, "bench", watch, items=len(points), size=0, processes=2)


run_script(snakemake, main)  # noqa: F821
