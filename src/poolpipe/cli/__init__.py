"""The `poolpipe` command: every stage without Snakemake."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from poolpipe import __version__
from poolpipe.cli import bench, crawl, predict, report, supervise, tasks, train
from poolpipe.cli import sum as sum_
from poolpipe.core import one_blas_thread_per_process
from poolpipe.errors import run_guarded

__all__ = ["build_parser", "main"]

COMMANDS = (sum_, train, predict, tasks, supervise, bench, crawl, report)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="poolpipe", description=__doc__)
    parser.add_argument("--version", action="version", version=f"poolpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `poolpipe` command."""
    one_blas_thread_per_process()
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: args.run(args))
