"""The `train` and `demo-train` commands."""

from __future__ import annotations

import argparse
import sys

from poolpipe.cli import options as opt
from poolpipe.core import (
    Stopwatch,
    check_output_path,
    dumps_json,
    refuse_overlap,
    schema_defaults,
)


def _cmd_train(args: argparse.Namespace) -> int:
    from poolpipe.train import Options, summary_text, train_file

    refuse_overlap(inputs={"input": args.path}, outputs={"--timing": args.timing})
    opt.check_outputs(args, "timing")
    options = Options(
        alpha=args.alpha, ridge=args.ridge, robust=args.robust, intercept=not args.no_intercept
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
    sys.stdout.write(summary_text(result) if args.summary else dumps_json(result))
    opt.timing_record(args, "train", watch, result["rows"], result["bytes"])
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
    demo = schema_defaults("demo")
    train = schema_defaults("train")
    p = sub.add_parser("train", help="fit a linear regression to a CSV file, exactly, in chunks")
    p.add_argument("path", help="CSV file with a header line")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument(
        "--features",
        type=opt.names,
        metavar="A,B",
        help="columns to predict from (default: every other numeric column)",
    )
    p.add_argument("--processes", **opt.processes("train"))
    p.add_argument(
        "--chunks",
        type=opt.in_range("train.chunks"),
        help="chunks whose fits are averaged, as in the article's recipe, "
        f"{opt.range_help('train.chunks')} (default: --processes)",
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
        type=opt.in_range("train.full_fit_max_mb", float),
        default=train["full_fit_max_mb"],
        metavar="MB",
        help="run the full fit only if it needs at most this many MiB, "
        f"{opt.range_help('train.full_fit_max_mb')} (default: %(default)s)",
    )
    p.add_argument(
        "--weights",
        default=train["weights"],
        metavar="COLUMN",
        help="a column of row weights: weighted least squares (default: unweighted)",
    )
    p.add_argument(
        "--alpha",
        type=opt.in_range("train.alpha", float),
        default=train["alpha"],
        help="level of the confidence intervals, "
        f"{opt.range_help('train.alpha')} (default: %(default)s)",
    )
    p.add_argument(
        "--robust",
        choices=("none", "hc0", "hc1", "hc2", "hc3"),
        default=train["robust"],
        help="robust standard errors from a second pass over the rows (default: %(default)s)",
    )
    p.add_argument(
        "--ridge",
        type=opt.in_range("train.ridge", float),
        default=train["ridge"],
        metavar="ALPHA",
        help="also fit ridge regression with this penalty, "
        f"{opt.range_help('train.ridge')} (default: %(default)s, none)",
    )
    p.add_argument(
        "--no-intercept",
        action="store_true",
        help="fit the model through the origin, without an intercept (its R² is uncentered)",
    )
    p.add_argument(
        "--summary",
        action="store_true",
        help="print the fit as a table a statistician reads instead of the model.json document",
    )
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("demo-train", help="write the deterministic demo training CSV")
    p.add_argument("out")
    demo_train = demo["train"]
    p.add_argument(
        "--rows",
        type=opt.in_range("demo.train.rows"),
        default=demo_train["rows"],
        help=f"data rows, {opt.range_help('demo.train.rows')} (default: %(default)s)",
    )
    p.add_argument(
        "--features",
        type=opt.list_size("demo.train.coef"),
        default=1,
        help=f"features, {opt.list_size_help('demo.train.coef')}, used when --coef is not given"
        " (default: %(default)s)",
    )
    p.add_argument(
        "--coef",
        type=opt.number_list("demo.train.coef"),
        help=f"true coefficients, comma-separated, {opt.list_size_help('demo.train.coef')} of"
        f" them, each {opt.range_help('demo.train.coef[]')} (default: 2 for each feature)",
    )
    p.add_argument(
        "--intercept",
        type=opt.in_range("demo.train.intercept", float),
        default=demo_train["intercept"],
        help=f"true intercept, {opt.range_help('demo.train.intercept')} (default: %(default)s)",
    )
    p.add_argument(
        "--noise",
        type=opt.in_range("demo.train.noise", float),
        default=demo_train["noise"],
        help="standard deviation of the noise on y, "
        f"{opt.range_help('demo.train.noise')} (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=opt.seed,
        default=demo["seed"],
        help="random seed of the rows (default: %(default)s)",
    )
    p.add_argument(
        "--bad-rows",
        type=opt.in_range("demo.train.bad_rows"),
        default=0,
        help="unusable rows (default: %(default)s, a clean file; the workflow's demo has "
        f"{demo_train['bad_rows']} to show the reporting)",
    )
    p.set_defaults(run=_cmd_demo_train)
