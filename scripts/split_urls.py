"""Rule split_urls: count the URL file's lines, find its repeated URLs, cut it into chunks."""

from poolpipe.chunks import split_file, write_manifest
from poolpipe.files import write_json
from poolpipe.smk import run_script, write_timing
from poolpipe.timing import Stopwatch
from poolpipe.urlfile import index_urls


def main(smk):
    with Stopwatch() as watch:
        index = index_urls(smk.input[0], smk.output.duplicates)
        ranges = split_file(smk.input[0], smk.params.chunks)
        write_manifest(smk.output.manifest, ranges)
        write_json(smk.output.index, index.to_json())
    write_timing(smk, "crawl", watch, items=index.urls, size=ranges[-1].end)


run_script(snakemake, main)  # noqa: F821
