"""Rule crawl_chunk: crawl one chunk's URLs with a pool of `threads` processes."""

import logging

from poolpipe.core import chunk_job, run_script, scratch_folder
from poolpipe.crawl import CrawlSettings, SiteSpec, crawl_range, demo_site


def main(smk):
    settings = CrawlSettings.from_config(smk.params.crawl)
    site = SiteSpec(**smk.params.site) if smk.params.site else None
    dups = smk.input.duplicates

    def crawl(chunk, processes, serial, reach):
        if not serial:
            return crawl_range(
                chunk, reach, processes=processes, out=smk.output.part, duplicates=dups
            )
        with scratch_folder(smk.output.part) as scratch:
            out = scratch / "serial.jsonl"
            return crawl_range(
                chunk, reach, processes=processes, out=out, duplicates=dups, serial=True
            )

    compare = smk.params.compare_serial and site is not None
    note = smk.params.serial_note
    if smk.params.compare_serial and not compare:
        note = "not measured: without the demo site it would request every URL a second time"
    if note:
        logging.info("no one-process comparison: %s", note)
    stats = chunk_job(
        smk,
        "crawl",
        crawl,
        lambda stats: (stats.rows, stats.bytes),
        used=lambda stats: stats.processes,
        write_part=False,
        compare_serial=compare,
        serial_note=note,
        setup=lambda: demo_site(settings, site),
    )
    logging.info("%d rows, %d requests, %d retries", stats.rows, stats.attempts, stats.retries)


run_script(snakemake, main)  # noqa: F821
