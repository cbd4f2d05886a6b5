"""Rule demo_tasks: write the deterministic demo task root folder and its manifest."""

from poolpipe.smk import run_script, write_timing
from poolpipe.taskdemo import write_demo
from poolpipe.timing import Stopwatch


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        lines = write_demo(smk.output.manifest, smk.output.root, p.files, p.tasks, p.seed)
    write_timing(smk, "tasks", watch, items=lines, size=0)


run_script(snakemake, main)  # noqa: F821
