"""Rule split_urls: count the URL file's lines, find its repeated URLs, cut it into chunks."""

from poolpipe.core import (
    Stopwatch,
    check_identity,
    identify,
    run_script,
    split_file,
    write_job_timing,
    write_json,
    write_manifest,
)
from poolpipe.crawl import index_urls


def main(smk):
    with Stopwatch() as watch:
        identity = identify(smk.input[0])
        index = index_urls(smk.input[0], smk.output.duplicates)
        ranges = split_file(smk.input[0], smk.params.chunks)
        check_identity(identity, dataset=smk.wildcards.dataset)
        write_manifest(smk.output.manifest, ranges, identity)
        write_json(smk.output.index, index.to_json())
    write_job_timing(smk, "crawl", watch, items=index.urls, size=ranges[-1].end)


run_script(snakemake, main)  # noqa: F821
