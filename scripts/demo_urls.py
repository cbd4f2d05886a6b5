"""Rule demo_urls: write the deterministic demo URL list."""

from poolpipe.core import Stopwatch, run_script, write_job_timing
from poolpipe.crawl import write_urls


def main(smk):
    p = smk.params
    with Stopwatch() as watch:
        size = write_urls(smk.output.urls, pages=p.pages, seed=p.seed, duplicates=p.duplicates)
    write_job_timing(smk, "data", watch, items=p.pages, size=size)


run_script(snakemake, main)  # noqa: F821
