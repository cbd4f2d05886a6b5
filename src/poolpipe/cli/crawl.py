"""The `crawl` and `demo-urls` commands."""

from __future__ import annotations

import argparse
import sys

from poolpipe.cli import options as opt
from poolpipe.core import USER_AGENT, Stopwatch, check_output_path, dumps_json, schema_defaults
from poolpipe.core.outputs import write_stdout
from poolpipe.errors import PoolpipeError

DEMO_SITE_PAGES = 1000
"""Pages `crawl --demo-site` serves unless --demo-pages says: more than the workflow's demo list,
so that the site serves any demo-urls list up to that size."""


def _cmd_crawl(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from poolpipe.core import refuse_overlap, write_json
    from poolpipe.crawl import (
        CrawlSettings,
        Progress,
        SiteSpec,
        crawl_file,
        crawl_workers,
        showing,
    )
    from poolpipe.crawl.journal import journal_dir
    from poolpipe.crawl.warc import warc_path

    if args.demo_pages is not None and not args.demo_site:
        raise PoolpipeError("--demo-pages sizes the demo site: give --demo-site with it")
    check_output_path(args.out, "--out")  # first: the WARC file and the journal are named from it
    warc = warc_path(args.out) if args.store == "warc" else None
    outputs = {"--out": args.out, "--summary": args.summary, "--timing": args.timing}
    outputs |= {"the WARC file": warc, "the journal": journal_dir(args.out)}
    inputs = {"URLFILE": args.urlfile, "--previous": args.previous}
    refuse_overlap(inputs=inputs, outputs=outputs)
    _refuse_in_journal(journal_dir(args.out), inputs | outputs)
    opt.check_outputs(args, "out", "summary", "timing")
    settings = CrawlSettings()
    given = {
        "concurrency": args.concurrency,
        "per_host": args.per_host,
        "per_host_delay": args.per_host_delay,
        "deadline": args.deadline,
        "retries": args.retries,
        "max_bytes": args.max_bytes,
        "user_agent": args.user_agent,
        "robots": args.robots,
        "internal_redirects": args.internal_redirects,
        "previous": args.previous,
        "store": args.store,
    }
    settings = replace(settings, **{k: v for k, v in given.items() if v is not None})
    site = None
    if args.demo_site:  # the workflow's demo site: the schema's page size and latency
        shape = schema_defaults("demo")["crawl"]
        latency = shape["latency_ms"] / 1000
        pages = DEMO_SITE_PAGES if args.demo_pages is None else args.demo_pages
        site = SiteSpec(pages=pages, page_bytes=shape["page_bytes"], latency=latency)
    progress = Progress() if sys.stderr.isatty() else None
    with Stopwatch() as watch, showing(progress, sys.stderr):
        result = crawl_file(
            args.urlfile,
            out=args.out,
            settings=settings,
            processes=args.processes,
            site=site,
            progress=progress,
            restart=args.restart,
        )
    write_stdout(dumps_json(result))
    if args.summary:
        write_json(args.summary, result)
    # the workers that ran, for the record (a second pass over the URL file: only for one)
    used = crawl_workers(args.urlfile, settings, args.processes) if args.timing else None
    opt.timing_record(args, "crawl", watch, result["rows"], result["bytes"], processes=used)
    return 0


def _refuse_in_journal(journal, paths) -> None:
    """One sentence for a file in OUT.journal/, which the crawl removes once OUT is written (and
    --restart before it starts): an input there was deleted, an output written into it lost."""
    import os

    folder = os.path.realpath(journal)
    for label, path in paths.items():
        if path is not None and os.path.realpath(path).startswith(folder + os.sep):
            raise PoolpipeError(
                f"{label} {os.fspath(path)!r} lies in {os.fspath(journal)!r}, the folder where "
                "the crawl keeps its journal and which it removes: choose another path or --out"
            )


OPTIONS = (
    ("--concurrency", "concurrency"),
    ("--per-host", "per_host"),
    ("--per-host-delay", "per_host_delay"),
    ("--deadline", "timeouts.deadline"),
    ("--retries", "retries.max"),
    ("--max-bytes", "max_bytes"),
)
"""Each number option of `crawl` and the crawl key it sets."""


def user_agent(text: str) -> str:
    """A --user-agent that can go in an HTTP header (null: the default), else the settings' one
    sentence."""
    from poolpipe.crawl.settings import user_agent_problem

    if text == "null":
        return USER_AGENT
    if problem := user_agent_problem(text):
        raise argparse.ArgumentTypeError(problem.removeprefix("user_agent "))
    return text


def _cmd_demo_urls(args: argparse.Namespace) -> int:
    from poolpipe.crawl import write_urls

    check_output_path(args.out)
    write_urls(args.out, pages=args.pages, seed=args.seed, duplicates=args.duplicates)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `crawl` and `demo-urls`."""
    demo = schema_defaults("demo")
    p = sub.add_parser(
        "crawl",
        help="fetch every URL of a file; write one row per URL line to --out (TSV)",
        description="Fetch every URL of URLFILE (one a line; blank lines and # comments "
        "skipped, repeats fetched once) and write one row per URL line, in input order, to "
        "--out; print the summary. Unset settings take config/schema.yaml's defaults. On a "
        "terminal, a live progress line goes to stderr. Rows are journalled in OUT.journal/ as "
        "they come: a run that was killed (SIGKILL, a crash, a lost node) resumes from there, "
        "fetching no URL it has a row for again; the folder is removed once OUT is written, "
        "or when the run is stopped with Ctrl-C or SIGTERM.",
    )
    p.add_argument("urlfile", help="text file, one URL per line")
    p.add_argument("--out", required=True, metavar="PATH", help="pages.tsv to write")
    p.add_argument("--processes", **opt.processes("crawl"))
    for option, name in OPTIONS:
        p.add_argument(option, **opt.setting(f"crawl.{name}"))
    agent = opt.setting("crawl.user_agent", default=USER_AGENT, type=user_agent)
    p.add_argument("--user-agent", **agent)
    p.add_argument("--no-robots", dest="robots", **opt.setting("crawl.robots"))
    p.add_argument("--internal-redirects", **opt.setting("crawl.internal_redirects"))
    p.add_argument("--previous", metavar="PAGES_TSV", **opt.setting("crawl.previous"))
    p.add_argument("--store", **opt.setting("crawl.store"))
    p.add_argument("--demo-site", **opt.setting("crawl.demo_site", default=False))
    pages = demo["crawl"]["pages"]
    serves = (
        "pages the demo site serves (with --demo-site), in the range of demo.crawl.pages "
        f"(default: {DEMO_SITE_PAGES}, more than the workflow's {pages}, so that it serves any "
        "demo-urls list up to that size)"
    )
    p.add_argument("--demo-pages", **opt.setting("demo.crawl.pages", default=None, help=serves))
    p.add_argument(
        "--restart",
        action="store_true",
        help="start over: remove OUT.journal/, an earlier killed run's journal, first",
    )
    p.add_argument("--summary", metavar="PATH", help="also write the summary here")
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_crawl)

    p = sub.add_parser("demo-urls", help="write the deterministic demo URL list")
    p.add_argument("out")
    p.add_argument("--pages", **opt.setting("demo.crawl.pages"))
    p.add_argument("--seed", **opt.setting("demo.seed"))
    p.add_argument("--duplicates", **opt.setting("demo.crawl.duplicates"))
    p.set_defaults(run=_cmd_demo_urls)
