"""The `tasks` and `demo-tasks` commands."""

from __future__ import annotations

import argparse
import sys

from poolpipe.cli import options as opt
from poolpipe.core import check_output_path, dumps_json, schema_defaults


def _cmd_tasks(args: argparse.Namespace) -> int:
    from poolpipe.tasks import run_to_file

    opt.check_outputs(args, "out")
    summary = run_to_file(args.manifest, args.root, args.out, processes=args.processes)
    sys.stdout.write(dumps_json(summary.to_json()))
    return 0


def _cmd_demo_tasks(args: argparse.Namespace) -> int:
    from poolpipe.tasks import write_demo

    check_output_path(args.manifest)
    write_demo(args.manifest, args.root, files=args.files, tasks=args.tasks, seed=args.seed)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `tasks` and `demo-tasks`."""
    demo = schema_defaults("demo")
    p = sub.add_parser("tasks", help="run a JSON Lines manifest of file tasks inside one folder")
    p.add_argument("manifest", help="JSON Lines, one task a line: op, path, content, src")
    p.add_argument("--root", required=True, help="the only folder the tasks may touch")
    p.add_argument("--out", required=True, help="where results.tsv goes")
    p.add_argument("--processes", **opt.processes("tasks"))
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
        "--seed",
        type=int,
        default=demo["seed"],
        help="seed of the files (default: %(default)s)",
    )
    p.set_defaults(run=_cmd_demo_tasks)
