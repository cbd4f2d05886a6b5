"""The `poolpipe` command: every stage without Snakemake."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from poolpipe import __version__
from poolpipe.core.cpu import one_blas_thread_per_process
from poolpipe.errors import run_guarded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["build_parser", "main", "terminal_columns"]

MODULES = ("sum", "train", "predict", "tasks", "supervise", "crawl", "report")
"""The modules of poolpipe.cli that add subcommands, in the order --help lists them."""

COMMANDS = {
    "sum": "sum",
    "demo-numbers": "sum",
    "train": "train",
    "demo-train": "train",
    "predict": "predict",
    "tasks": "tasks",
    "demo-tasks": "tasks",
    "supervise": "supervise",
    "double": "supervise",
    "crawl": "crawl",
    "demo-urls": "crawl",
    "report": "report",
}
"""Each subcommand and the module that adds it: a command imports and builds only its own."""


def terminal_columns() -> int:
    """The terminal's width as shutil.get_terminal_size() finds it (COLUMNS, else standard
    output's terminal, else 80), without importing shutil and the compression modules it
    loads (5 ms of a small command's start)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, as wide as the terminal (argparse makes one for every
    argument it adds, and would import shutil for the width)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = terminal_columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose help, and its subcommands', is made by _HelpFormatter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser for one subcommand, or for all of them (command None or unknown)."""
    parser = _Parser(prog="poolpipe", description=__doc__)
    parser.add_argument("--version", action="version", version=f"poolpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in (COMMANDS[command],) if command in COMMANDS else MODULES:
        importlib.import_module(f"poolpipe.cli.{name}").add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `poolpipe` command."""
    one_blas_thread_per_process()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said with the command's own usage, not the list of every command
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    gc.freeze()  # what was loaded lives until exit: no collection passes over it, then or at exit
    code = run_guarded(lambda: args.run(args))
    gc.freeze()  # and what the command loaded since: the exit collected a pool's modules in 5 ms
    return code
