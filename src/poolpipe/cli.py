"""The `poolpipe` command: every stage without Snakemake."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from poolpipe import __version__
from poolpipe.core import (
    USER_AGENT,
    Stopwatch,
    available_cpus,
    check_output_path,
    dumps_json,
    schema_defaults,
    write_timing,
)
from poolpipe.core.defaults import schema_bounds
from poolpipe.errors import run_guarded


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _in_range(setting: str, kind: type[float] = int) -> Callable[[str], float]:
    """An argument type: a number in the range config/schema.yaml gives `setting`."""
    bounds = schema_bounds(setting)
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        problem = bounds.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def _range_help(setting: str) -> str:
    """A setting's range in words, for a help text, e.g. "at least 1 and at most 1024"."""
    return schema_bounds(setting).text()


def _processes(stage: str) -> dict[str, object]:
    """The --processes option of a stage: its `threads` range, the usable CPUs by default."""
    setting = f"{stage}.threads"
    return {
        "type": _in_range(setting),
        "default": available_cpus(),
        "help": f"processes in the pool, {_range_help(setting)} (default: %(default)s, "
        "the CPUs this process may use)",
    }


def _check_outputs(args: argparse.Namespace, *options: str) -> None:
    """Check every output path the command was given, before any work starts."""
    for option in options:
        path = getattr(args, option)
        if path is not None:
            check_output_path(path, f"--{option}")


def _write_timing(
    args: argparse.Namespace, stage: str, watch: Stopwatch, items: int, size: int
) -> None:
    """Write a command's timing record where --timing asks for one."""
    if args.timing:
        write_timing(
            args.timing,
            stage=stage,
            rule="cli",
            watch=watch,
            items=items,
            size=size,
            processes=args.processes,
        )


def _cmd_sum(args: argparse.Namespace) -> int:
    from poolpipe.sum import sum_file

    _check_outputs(args, "timing")
    with Stopwatch() as watch:
        result = sum_file(args.path, args.processes, args.strict)
    sys.stdout.write(dumps_json(result))
    _write_timing(args, "sum", watch, result["numbers"], result["bytes"])
    return 0


def _cmd_demo_numbers(args: argparse.Namespace) -> int:
    from poolpipe.sum import write_numbers

    check_output_path(args.out)
    write_numbers(
        args.out,
        args.lines,
        seed=args.seed,
        blank_lines=args.blank_lines,
        bad_lines=args.bad_lines,
    )
    return 0


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of column names")
    return names


def _cmd_train(args: argparse.Namespace) -> int:
    from poolpipe.train import train_file

    _check_outputs(args, "timing")
    with Stopwatch() as watch:
        result = train_file(
            args.path,
            args.target,
            features=args.features or (),
            processes=args.processes,
            chunks=args.chunks,
            strict=args.strict,
            delimiter=args.delimiter,
            compare_full_fit=args.compare_full_fit,
            full_fit_max_mb=args.full_fit_max_mb,
        )
    sys.stdout.write(dumps_json(result))
    _write_timing(args, "train", watch, result["rows"], result["bytes"])
    return 0


def _cmd_demo_train(args: argparse.Namespace) -> int:
    from poolpipe.train import write_train

    check_output_path(args.out)
    coef = [float(c) for c in _names(args.coef)] if args.coef else [2.0] * args.features
    write_train(
        args.out,
        args.rows,
        seed=args.seed,
        coef=coef,
        intercept=args.intercept,
        noise=args.noise,
        bad_rows=args.bad_rows,
    )
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    from poolpipe.tasks import run_to_file

    _check_outputs(args, "out")
    summary = run_to_file(args.manifest, args.root, args.out, processes=args.processes)
    sys.stdout.write(dumps_json(summary.to_json()))
    return 0


def _cmd_demo_tasks(args: argparse.Namespace) -> int:
    from poolpipe.tasks import write_demo

    check_output_path(args.manifest)
    write_demo(args.manifest, args.root, files=args.files, tasks=args.tasks, seed=args.seed)
    return 0


def _cmd_supervise(args: argparse.Namespace) -> int:
    from poolpipe import supervise as sv

    _check_outputs(args, "out")
    loops = [sv.parse_loop(spec) for spec in args.worker] or list(sv.SEED_LOOPS)
    settings = sv.SupervisorSettings(
        duration_s=args.duration,
        restart=args.restart,
        max_restarts=args.max_restarts,
        heartbeat_timeout_s=args.heartbeat_timeout,
        stop_timeout_s=args.stop_timeout,
    )
    report = sv.supervise(loops, settings)
    if args.out:
        sv.write_ticks(args.out, report)
    else:
        sys.stdout.write(sv.ticks_tsv(report))
    sv.check(report)
    return 0


def _cmd_double(args: argparse.Namespace) -> int:
    from poolpipe.bench import double_shared

    sys.stdout.write(dumps_json(double_shared(args.values, args.processes)))
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _cmd_crawl(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from poolpipe.core import write_json
    from poolpipe.crawl import CrawlSettings, SiteSpec, crawl_file

    _check_outputs(args, "out", "summary", "timing")
    settings = CrawlSettings()
    given = {
        "concurrency": args.concurrency,
        "per_host": args.per_host,
        "per_host_delay": args.per_host_delay,
        "deadline": args.deadline,
        "retries": args.retries,
        "max_bytes": args.max_bytes,
        "user_agent": args.user_agent,
        "robots": False if args.no_robots else None,
    }
    settings = replace(settings, **{k: v for k, v in given.items() if v is not None})
    site = SiteSpec(pages=args.demo_pages) if args.demo_site else None
    with Stopwatch() as watch:
        result = crawl_file(
            args.urlfile, out=args.out, settings=settings, processes=args.processes, site=site
        )
    sys.stdout.write(dumps_json(result))
    if args.summary:
        write_json(args.summary, result)
    _write_timing(args, "crawl", watch, result["rows"], result["bytes"])
    return 0


def _cmd_demo_urls(args: argparse.Namespace) -> int:
    from poolpipe.crawl import write_urls

    check_output_path(args.out)
    write_urls(args.out, pages=args.pages, seed=args.seed, duplicates=args.duplicates)
    return 0


def _add_crawl(sub: argparse._SubParsersAction) -> None:
    crawl = schema_defaults("crawl")
    demo = schema_defaults("demo")
    p = sub.add_parser(
        "crawl",
        help="fetch every URL of a file; write one row per URL line to --out (TSV)",
        description="Fetch every URL of URLFILE (one a line; blank lines and # comments "
        "skipped, repeats fetched once) and write one row per URL line, in input order, to "
        "--out; print the summary. Unset settings take config/schema.yaml's defaults.",
    )
    p.add_argument("urlfile", help="text file, one URL per line")
    p.add_argument("--out", required=True, metavar="PATH", help="pages.tsv to write")
    p.add_argument("--processes", **_processes("crawl"))
    p.add_argument(
        "--concurrency",
        type=_in_range("crawl.concurrency"),
        default=crawl["concurrency"],
        help="requests in flight in all, over every process, "
        f"{_range_help('crawl.concurrency')} (default: %(default)s)",
    )
    p.add_argument(
        "--per-host",
        type=_in_range("crawl.per_host"),
        default=crawl["per_host"],
        help="most requests in flight to one host, "
        f"{_range_help('crawl.per_host')} (default: %(default)s)",
    )
    p.add_argument(
        "--per-host-delay",
        type=_in_range("crawl.per_host_delay", float),
        default=crawl["per_host_delay"],
        help="least seconds between starts of requests to one host, "
        f"{_range_help('crawl.per_host_delay')} (default: %(default)s)",
    )
    p.add_argument(
        "--deadline",
        type=_in_range("crawl.timeouts.deadline", float),
        default=crawl["timeouts"]["deadline"],
        help="seconds one attempt may take in all, "
        f"{_range_help('crawl.timeouts.deadline')} (default: %(default)s)",
    )
    p.add_argument(
        "--retries",
        type=_in_range("crawl.retries.max"),
        default=crawl["retries"]["max"],
        help="retries of 429/5xx and connection errors, "
        f"{_range_help('crawl.retries.max')} (default: %(default)s)",
    )
    p.add_argument(
        "--max-bytes",
        type=_in_range("crawl.max_bytes"),
        default=crawl["max_bytes"],
        help=f"largest body accepted, {_range_help('crawl.max_bytes')} (default: %(default)s)",
    )
    p.add_argument(
        "--user-agent",
        default=crawl["user_agent"] or USER_AGENT,
        help="User-Agent header (default: %(default)s)",
    )
    p.add_argument("--no-robots", action="store_true", help="do not obey robots.txt")
    p.add_argument(
        "--demo-site",
        action="store_true",
        help="run the demo site on 127.0.0.1 and send demo.poolpipe.invalid there",
    )
    p.add_argument(
        "--demo-pages",
        type=_positive,
        default=1000,
        help="pages the demo site serves (default: %(default)s, more than the workflow's "
        f"{demo['crawl']['pages']}, so that it serves any demo-urls list up to that size)",
    )
    p.add_argument("--summary", metavar="PATH", help="also write the summary here")
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_crawl)

    p = sub.add_parser("demo-urls", help="write the deterministic demo URL list")
    p.add_argument("out")
    p.add_argument(
        "--pages",
        type=_positive,
        default=demo["crawl"]["pages"],
        help="pages listed (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=demo["seed"], help="seed of the order (default: %(default)s)"
    )
    p.add_argument(
        "--duplicates",
        type=int,
        default=demo["crawl"]["duplicates"],
        help="pages listed a second time (default: %(default)s)",
    )
    p.set_defaults(run=_cmd_demo_urls)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    demo = schema_defaults("demo")
    train = schema_defaults("train")
    supervise = schema_defaults("supervise")
    parser = argparse.ArgumentParser(prog="poolpipe", description=__doc__)
    parser.add_argument("--version", action="version", version=f"poolpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sum", help="sum a file of integers, one per line, exactly")
    p.add_argument("path", help="text file, one integer per line")
    p.add_argument("--processes", **_processes("sum"))
    p.add_argument("--strict", action="store_true", help="fail at the first bad line")
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_sum)

    p = sub.add_parser("demo-numbers", help="write the deterministic demo numbers file")
    p.add_argument("out")
    numbers = demo["numbers"]
    p.add_argument(
        "--lines",
        type=int,
        default=1_000_000,
        help="lines to write (default: %(default)s, a quick try; the workflow's demo writes "
        f"{numbers['lines']} to time the pool)",
    )
    p.add_argument(
        "--seed", type=int, default=demo["seed"], help="seed of the numbers (default: %(default)s)"
    )
    p.add_argument(
        "--blank-lines",
        type=int,
        default=0,
        help="blank lines among them (default: %(default)s, a clean file; the workflow's "
        f"demo has {numbers['blank_lines']} to show the reporting)",
    )
    p.add_argument(
        "--bad-lines",
        type=int,
        default=0,
        help="lines that are not integers (default: %(default)s, a clean file; the workflow's "
        f"demo has {numbers['bad_lines']} to show the reporting)",
    )
    p.set_defaults(run=_cmd_demo_numbers)

    p = sub.add_parser("train", help="fit a linear regression to a CSV file, exactly, in chunks")
    p.add_argument("path", help="CSV file with a header line")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument(
        "--features",
        type=_names,
        metavar="A,B",
        help="columns to predict from (default: every other numeric column)",
    )
    p.add_argument("--processes", **_processes("train"))
    p.add_argument(
        "--chunks",
        type=_in_range("train.chunks"),
        help="chunks whose fits are averaged, as in the seed recipe, "
        f"{_range_help('train.chunks')} (default: --processes)",
    )
    p.add_argument(
        "--delimiter",
        default=train["delimiter"],
        help="field delimiter, one character (default: %(default)s)",
    )
    p.add_argument("--strict", action="store_true", help="fail at the first bad row")
    p.add_argument(
        "--compare-full-fit",
        action="store_true",
        help="also fit scikit-learn on all rows at once and report each method's difference",
    )
    p.add_argument(
        "--full-fit-max-mb",
        type=float,
        default=train["full_fit_max_mb"],
        metavar="MB",
        help="run the full fit only if it needs at most this many MiB (default: %(default)s)",
    )
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("demo-train", help="write the deterministic demo training CSV")
    p.add_argument("out")
    demo_train = demo["train"]
    p.add_argument(
        "--rows", type=int, default=demo_train["rows"], help="data rows (default: %(default)s)"
    )
    p.add_argument("--features", type=_positive, default=1, help="used when --coef is not given")
    p.add_argument("--coef", help="true coefficients, comma-separated (default: 2 for each)")
    p.add_argument(
        "--intercept",
        type=float,
        default=demo_train["intercept"],
        help="true intercept (default: %(default)s)",
    )
    p.add_argument(
        "--noise",
        type=float,
        default=demo_train["noise"],
        help="standard deviation of the noise on y (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=demo["seed"], help="seed of the rows (default: %(default)s)"
    )
    p.add_argument(
        "--bad-rows",
        type=int,
        default=0,
        help="unusable rows (default: %(default)s, a clean file; the workflow's demo has "
        f"{demo_train['bad_rows']} to show the reporting)",
    )
    p.set_defaults(run=_cmd_demo_train)
    p = sub.add_parser("tasks", help="run a JSON Lines manifest of file tasks inside one folder")
    p.add_argument("manifest", help="JSON Lines, one task a line: op, path, content, src")
    p.add_argument("--root", required=True, help="the only folder the tasks may touch")
    p.add_argument("--out", required=True, help="where results.tsv goes")
    p.add_argument("--processes", **_processes("tasks"))
    p.set_defaults(run=_cmd_tasks)

    p = sub.add_parser("demo-tasks", help="write the deterministic demo task root and manifest")
    p.add_argument("manifest")
    p.add_argument("root")
    p.add_argument(
        "--files",
        type=int,
        default=demo["tasks"]["files"],
        help="text notes and binary blobs in the root (default: %(default)s)",
    )
    p.add_argument(
        "--tasks",
        type=int,
        default=demo["tasks"]["tasks"],
        help="ordinary tasks in the manifest (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=demo["seed"], help="seed of the files (default: %(default)s)"
    )
    p.set_defaults(run=_cmd_demo_tasks)

    p = sub.add_parser("supervise", help="run named worker loops until a time, a stop or Ctrl-C")
    p.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="NAME[:INTERVAL_S[:TICKS[:FAIL_AT_TICK]]]",
        help="a worker loop (repeat; default: the seed's render, logic and network loops)",
    )
    p.add_argument(
        "--duration",
        type=_seconds,
        help="seconds to run (default: until a signal, as the seed's loops run; the "
        f"workflow's rule runs {supervise['duration_s']} s)",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="restart a loop that dies or hangs (off unless given; the workflow's rule "
        "restarts unless supervise.restart is false)",
    )
    p.add_argument(
        "--max-restarts",
        type=int,
        default=supervise["max_restarts"],
        help="restarts per loop before it is left dead (default: %(default)s)",
    )
    p.add_argument(
        "--heartbeat-timeout",
        type=_seconds,
        default=float(supervise["heartbeat_timeout_s"]),
        help="seconds of silence before a loop is killed as hung (default: %(default)s)",
    )
    p.add_argument(
        "--stop-timeout",
        type=_seconds,
        default=float(supervise["stop_timeout_s"]),
        help="seconds a loop may take to stop before SIGTERM, then SIGKILL (default: %(default)s)",
    )
    p.add_argument("--out", help="write ticks.tsv here (default: standard output)")
    p.set_defaults(run=_cmd_supervise)

    p = sub.add_parser("double", help="double integers in place in shared memory, in parallel")
    p.add_argument("values", type=int, nargs="*")
    p.add_argument("--processes", **_processes("bench.cpu"))
    p.set_defaults(run=_cmd_double)

    _add_crawl(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `poolpipe` command."""
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: args.run(args))


if __name__ == "__main__":
    sys.exit(main())
