"""Rule crawl_chunk: crawl one chunk's URLs with a pool of `threads` processes."""

import logging
import tempfile
from pathlib import Path

from poolpipe.chunks import read_manifest
from poolpipe.crawl import crawl_range
from poolpipe.crawlmerge import demo_site
from poolpipe.crawlsettings import CrawlSettings
from poolpipe.demosite import SiteSpec
from poolpipe.smk import run_script, write_timing
from poolpipe.timing import Stopwatch


def main(smk):
    chunk = read_manifest(smk.input.manifest)[int(smk.wildcards.chunk)]
    settings = CrawlSettings.from_config(smk.params.crawl)
    site = SiteSpec(**smk.params.site) if smk.params.site else None
    dups = smk.input.duplicates
    with demo_site(settings, site) as reach, Stopwatch() as watch:
        stats = crawl_range(chunk, reach, smk.threads, smk.output.part, dups)
    logging.info("%d rows, %d requests, %d retries", stats.rows, stats.attempts, stats.retries)
    serial_wall_s = None
    if smk.params.compare_serial and site is not None:
        out = Path(tempfile.mkdtemp(dir=Path(smk.output.part).parent)) / "serial.jsonl"
        with demo_site(settings, site) as reach, Stopwatch() as serial:
            crawl_range(chunk, reach, smk.threads, out, dups, serial=True)
        out.unlink()
        out.parent.rmdir()
        serial_wall_s = serial.wall_s
    elif smk.params.compare_serial:
        logging.info("no serial comparison: it would fetch every real URL a second time")
    write_timing(smk, "crawl", watch, stats.rows, chunk.size, stats.processes, serial_wall_s)


run_script(snakemake, main)  # noqa: F821
