"""The `report` command: a run's timing report, optionally compared with an earlier run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from poolpipe.cli import options as opt
from poolpipe.core import check_output_path, read_json, schema_defaults
from poolpipe.errors import PoolpipeError


def _cmd_report(args: argparse.Namespace) -> int:
    from poolpipe import report

    outputs = {name: args.out / name for name in ("report.html", "timings.csv", "summary.md")}
    for path in outputs.values():
        check_output_path(path, "--out")
    if args.baseline is not None and not args.baseline.is_file():
        raise PoolpipeError(f"--baseline {str(args.baseline)!r} is not a file")
    results = args.results
    records = sorted((results / "timing").rglob("*.json"))
    if not records:
        raise PoolpipeError(f"no timing records under {str(results / 'timing')!r}; run first")
    bench = {name: results / "bench" / f"{name}.tsv" for name in ("cpu", "ipc", "overhead")}
    sections = [
        report.train_section(read_json(p), dataset=p.parent.name)
        for p in sorted(results.glob("train/*/model.json"))
    ]
    sections += [
        report.crawl_section(p.with_name("pages.tsv"), read_json(p), dataset=p.parent.name)
        for p in sorted(results.glob("crawl/*/summary.json"))
    ]
    built = report.build(
        records,
        scaling_tsv=bench["cpu"] if bench["cpu"].is_file() else None,
        ipc_tsv=bench["ipc"] if bench["ipc"].is_file() else None,
        overhead_tsv=bench["overhead"] if bench["overhead"].is_file() else None,
        baseline=args.baseline,
        judgement=report.Judgement(
            spread_limit=args.spread_limit,
            load_limit=args.load_limit,
            compare_factor=args.compare_factor,
        ),
        machine=report.describe(),
        sections=sections,
    )
    report.write(
        built,
        html_path=str(outputs["report.html"]),
        csv_path=str(outputs["timings.csv"]),
        summary_path=str(outputs["summary.md"]),
    )
    if built.changes is not None:
        marks = [c for c in built.changes if c.mark in ("slower", "faster")]
        for c in marks:
            sys.stdout.write(f"{c.mark}\t{c.rule}\t{c.dataset}\t{c.chunk}\t{c.ratio:.3g}\n")
    sys.stdout.write(f"poolpipe: report written to {outputs['report.html']}\n")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `report`."""
    defaults = schema_defaults("report")
    p = sub.add_parser("report", help="build the timing report of a run, optionally vs a baseline")
    p.add_argument("--results", type=Path, default=Path("results"), help="the run's results/")
    p.add_argument(
        "--out", type=Path, default=Path("results/report"), help="folder for the three files"
    )
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="an earlier run's timings.csv: mark every job slower or faster beyond the spread",
    )
    for name in ("spread_limit", "load_limit", "compare_factor"):
        setting = f"report.{name}"
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=opt.in_range(setting, float),
            default=defaults[name],
            help=f"{opt.range_help(setting)} (default: %(default)s)",
        )
    p.set_defaults(run=_cmd_report)
