"""Rule demo_numbers: write the deterministic demo numbers file."""

from poolpipe.core import Stopwatch, run_script, write_job_timing
from poolpipe.sum import write_numbers


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        size = write_numbers(
            smk.output.numbers,
            p.lines,
            seed=p.seed,
            blank_lines=p.blank_lines,
            bad_lines=p.bad_lines,
        )
    write_job_timing(smk, "data", watch, items=p.lines, size=size)


run_script(snakemake, main)  # noqa: F821
