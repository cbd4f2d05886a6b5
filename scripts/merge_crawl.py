"""Rule merge_crawl: the chunks' rows into results/crawl/<dataset>/pages.tsv, and summary.json."""

from pathlib import Path

from poolpipe.core import (
    Stopwatch,
    checked_manifest,
    read_json,
    read_record,
    run_script,
    write_job_timing,
    write_json,
)
from poolpipe.crawl import CrawlSettings, UrlIndex, join_warcs, summary, write_parts


def main(smk):
    p = smk.params
    source = checked_manifest(
        smk.input.manifest, dataset=smk.wildcards.dataset, chunks=len(smk.input.parts)
    )[0].path
    with Stopwatch() as watch:
        index = UrlIndex.from_json(read_json(smk.input.index))
        settings = CrawlSettings.from_config(p.crawl)
        tally = write_parts(smk.output.pages, smk.input.parts, index.urls, settings)
        wall_s = sum(read_record(path).wall_s for path in smk.input.timings)
        doc = summary(
            input_path=source,
            index=index,
            tally=tally,
            settings=settings,
            chunks=len(smk.input.parts),
            wall_s=wall_s,
            demo_site=p.demo_site,
        )
        write_json(smk.output.summary, doc)
        if smk.input.warcs:
            join_warcs(smk.input.warcs, smk.output.warc)
        else:  # WARC files of a run with crawl.store warc would stand for this crawl
            stale = [Path(part).with_suffix(".warc.gz") for part in smk.input.parts]
            for path in [Path(smk.output.pages).with_name("pages.warc.gz"), *stale]:
                path.unlink(missing_ok=True)
    write_job_timing(smk, "crawl", watch, items=tally.rows, size=tally.bytes)


run_script(snakemake, main)  # noqa: F821
