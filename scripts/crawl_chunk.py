"""Rule crawl_chunk: crawl one chunk's URLs with a pool of `threads` processes."""

import logging

from poolpipe.core import (
    checked_manifest,
    job_processes,
    run_script,
    scratch_folder,
    timed_with_serial,
    write_job_timing,
)
from poolpipe.crawl import CrawlSettings, SiteSpec, crawl_range, demo_site


def main(smk):
    dataset = smk.wildcards.dataset
    chunk = checked_manifest(smk.input.manifest, dataset=dataset)[int(smk.wildcards.chunk)]
    settings = CrawlSettings.from_config(smk.params.crawl)
    site = SiteSpec(**smk.params.site) if smk.params.site else None
    dups = smk.input.duplicates

    def crawl(serial, reach):
        if not serial:
            return crawl_range(
                chunk, reach, processes=job_processes(smk), out=smk.output.part, duplicates=dups
            )
        with scratch_folder(smk.output.part) as scratch:
            out = scratch / "serial.jsonl"
            return crawl_range(
                chunk, reach, processes=job_processes(smk), out=out, duplicates=dups, serial=True
            )

    compare = smk.params.compare_serial and site is not None
    note = smk.params.serial_note
    if smk.params.compare_serial and not compare:
        note = "not measured: without the demo site it would request every URL a second time"
    if note:
        logging.info("no one-process comparison: %s", note)
    stats, watch, serial_wall_s = timed_with_serial(
        crawl, compare_serial=compare, setup=lambda: demo_site(settings, site)
    )
    checked_manifest(smk.input.manifest, dataset=dataset)  # unchanged while it was read
    logging.info("%d rows, %d requests, %d retries", stats.rows, stats.attempts, stats.retries)
    write_job_timing(
        smk,
        "crawl",
        watch,
        items=stats.rows,
        size=stats.bytes,
        processes=stats.processes,
        serial_wall_s=serial_wall_s,
        serial_note=note,
    )


run_script(snakemake, main)  # noqa: F821
