"""Rule split_numbers: cut the numbers file into line-aligned byte ranges, a manifest of them
that records the input's identity."""

from poolpipe.core import run_script, split_job


def main(smk):
    split_job(smk, "sum")


run_script(snakemake, main)  # noqa: F821
