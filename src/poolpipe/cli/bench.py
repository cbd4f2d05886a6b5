"""The `double` command: the article's shared-memory recipe."""

from __future__ import annotations

import argparse

from poolpipe.cli import options as opt
from poolpipe.core import dumps_json
from poolpipe.core.outputs import write_stdout


def _cmd_double(args: argparse.Namespace) -> int:
    from poolpipe.bench import double_shared

    write_stdout(dumps_json(double_shared(args.values, args.processes)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `double`."""
    p = sub.add_parser("double", help="double integers in place in shared memory, in parallel")
    p.add_argument("values", type=int, nargs="*")
    p.add_argument("--processes", **opt.processes("bench.cpu"))
    p.set_defaults(run=_cmd_double)
