"""The `predict` command."""

from __future__ import annotations

import argparse

from poolpipe.cli import options as opt
from poolpipe.core import Stopwatch, dumps_json, refuse_overlap
from poolpipe.core.outputs import write_stdout


def _cmd_predict(args: argparse.Namespace) -> int:
    from poolpipe.train import predict_file, predict_workers

    refuse_overlap(
        inputs={"model": args.model, "data": args.data},
        outputs={"--out": args.out, "--timing": args.timing},
    )
    opt.check_outputs(args, "out", "timing")
    with Stopwatch() as watch:
        summary = predict_file(
            args.model,
            args.data,
            args.out,
            processes=args.processes,
            delimiter=args.delimiter,
            method=args.method,
        )
    write_stdout(dumps_json(summary))
    rows = summary["rows"] + summary["bad_rows"]["count"]
    used = predict_workers(args.data, args.processes)
    opt.timing_record(args, "predict", watch, rows, summary["bytes"], processes=used)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `predict`."""
    p = sub.add_parser(
        "predict", help="predict every row of a CSV file with a model.json, in chunks"
    )
    p.add_argument("model", help="a model.json written by `poolpipe train` or the workflow")
    p.add_argument("data", help="CSV file with a header line holding the model's features")
    p.add_argument("--out", required=True, metavar="PRED.csv", help="the predictions' CSV")
    p.add_argument("--processes", **opt.processes("predict"))
    p.add_argument("--method", **opt.setting("predict.method"))
    p.add_argument("--delimiter", **opt.setting("predict.delimiter"))
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_predict)
