"""Rule demo_numbers: write the deterministic demo numbers file."""

from poolpipe.demo import write_numbers
from poolpipe.smk import run_script, write_timing
from poolpipe.timing import Stopwatch


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        size = write_numbers(smk.output.numbers, p.lines, p.seed, p.blank_lines, p.bad_lines)
    write_timing(smk, "data", watch, items=p.lines, size=size)


run_script(snakemake, main)  # noqa: F821
