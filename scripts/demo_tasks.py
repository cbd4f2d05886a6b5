"""Rule demo_tasks: write the deterministic demo task root folder and its manifest."""

from poolpipe.core import Stopwatch, run_script, write_job_timing
from poolpipe.tasks import write_demo


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        lines = write_demo(
            smk.output.manifest, smk.output.root, files=p.files, tasks=p.tasks, seed=p.seed
        )
    write_job_timing(smk, "tasks", watch, items=lines, size=0)


run_script(snakemake, main)  # noqa: F821
