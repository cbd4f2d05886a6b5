"""The `train` and `demo-train` commands."""

from __future__ import annotations

import argparse

from poolpipe.cli import options as opt
from poolpipe.core import (
    Stopwatch,
    check_output_path,
    dumps_json,
    refuse_overlap,
    schema_defaults,
)
from poolpipe.core.outputs import write_stdout


def _cmd_train(args: argparse.Namespace) -> int:
    from poolpipe.core.chunks import split_file
    from poolpipe.train import Options, summary_text, train_file, train_workers

    refuse_overlap(inputs={"input": args.path}, outputs={"--timing": args.timing})
    opt.check_outputs(args, "timing")
    options = Options(
        alpha=args.alpha, ridge=args.ridge, robust=args.robust, intercept=args.intercept
    )
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
            weights=args.weights,
            options=options,
        )
    write_stdout(summary_text(result) if args.summary else dumps_json(result))
    # train_file's ranges: the workers it ran are what the record names
    ranges = split_file(args.path, args.chunks or args.processes, skip_header=True)
    used = train_workers(ranges, args.processes)
    opt.timing_record(args, "train", watch, result["rows"], result["bytes"], processes=used)
    return 0


def _cmd_demo_train(args: argparse.Namespace) -> int:
    from poolpipe.train import write_train

    check_output_path(args.out)
    coef = args.coef or [2.0] * args.features
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `train` and `demo-train`."""
    p = sub.add_parser("train", help="fit a linear regression to a CSV file, exactly, in chunks")
    p.add_argument("path", help="CSV file with a header line")
    p.add_argument("--target", **opt.setting("train.target", required=True))
    p.add_argument("--features", metavar="A,B", **opt.setting("train.features"))
    p.add_argument("--processes", **opt.processes("train"))
    p.add_argument("--chunks", **opt.setting("train.chunks", default=None, why="--processes"))
    p.add_argument("--delimiter", **opt.setting("train.delimiter"))
    p.add_argument("--strict", **opt.setting("train.strict"))
    p.add_argument("--compare-full-fit", **opt.setting("train.compare_full_fit"))
    p.add_argument("--full-fit-max-mb", metavar="MB", **opt.setting("train.full_fit_max_mb"))
    p.add_argument("--weights", metavar="COLUMN", **opt.setting("train.weights"))
    p.add_argument("--alpha", **opt.setting("train.alpha"))
    p.add_argument("--robust", **opt.setting("train.robust"))
    p.add_argument("--ridge", metavar="ALPHA", **opt.setting("train.ridge"))
    p.add_argument("--no-intercept", dest="intercept", **opt.setting("train.intercept"))
    p.add_argument(
        "--summary",
        action="store_true",
        help="print the fit as a table a statistician reads instead of the model.json document",
    )
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("demo-train", help="write the deterministic demo training CSV")
    p.add_argument("out")
    p.add_argument("--rows", **opt.setting("demo.train.rows"))
    p.add_argument(
        "--features",
        type=opt.list_size("demo.train.coef"),
        default=1,
        help=f"features, {opt.list_size_help('demo.train.coef')}, used when --coef is not given"
        " (default: %(default)s)",
    )
    every = "2 for each of --features"
    p.add_argument("--coef", **opt.setting("demo.train.coef", default=None, why=every))
    p.add_argument("--intercept", **opt.setting("demo.train.intercept"))
    p.add_argument("--noise", **opt.setting("demo.train.noise"))
    p.add_argument("--seed", **opt.setting("demo.seed"))
    bad = schema_defaults("demo.train")["bad_rows"]
    clean = f"a clean file; the workflow's demo has {bad} to show the reporting"
    p.add_argument("--bad-rows", **opt.setting("demo.train.bad_rows", default=0, why=clean))
    p.set_defaults(run=_cmd_demo_train)
