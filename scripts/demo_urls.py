"""Rule demo_urls: write the deterministic demo URL list."""

from poolpipe.demo import write_urls
from poolpipe.smk import run_script, write_timing
from poolpipe.timing import Stopwatch


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        size = write_urls(smk.output.urls, p.pages, p.seed, p.duplicates)
    write_timing(smk, "data", watch, items=p.pages, size=size)


run_script(snakemake, main)  # noqa: F821
