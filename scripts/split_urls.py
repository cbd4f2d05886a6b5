"""Rule split_urls: count the URL file's lines, find its repeated URLs, cut it into chunks."""

from poolpipe.core import run_script, split_job
from poolpipe.crawl import index_urls


def main(smk):
    def look(path):
        index = index_urls(path, smk.output.duplicates)
        return {smk.output.index: index.to_json()}, index.urls

    split_job(smk, "crawl", look)


run_script(snakemake, main)  # noqa: F821
