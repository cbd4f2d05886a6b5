"""The `tasks` and `demo-tasks` commands."""

from __future__ import annotations

import argparse
import sys

from poolpipe.cli import options as opt
from poolpipe.core import check_output_path, dumps_json, schema_defaults


def _cmd_tasks(args: argparse.Namespace) -> int:
    from poolpipe.core.pool import StopOnSignals
    from poolpipe.tasks import TaskPolicy, journal_path, run_to_file

    opt.check_outputs(args, "out")
    check_output_path(journal_path(args.out), "journal")
    policy = TaskPolicy(
        timeout_s=args.timeout,
        retries=args.retries,
        backoff_s=args.backoff,
        backoff_max_s=args.backoff_max,
    )
    # held for the whole command: a SIGTERM or Ctrl-C that lands after the run's own handler is
    # gone (its last check passed, the results are being committed) still ends in Stopped,
    # never in the signal's default action
    with StopOnSignals(deferred=True) as stop:
        summary = run_to_file(
            args.manifest,
            args.root,
            args.out,
            processes=args.processes,
            policy=policy,
            resume=args.resume,
        )
        stop.check()
        sys.stdout.write(dumps_json(summary.to_json()))
    return min(summary.failed, MAX_FAILED_STATUS)


MAX_FAILED_STATUS = 101
"""The exit status of a run with that many failed tasks or more, as GNU parallel's."""


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """--resume, --resume-failed, --timeout, --retries, --backoff, --backoff-max."""
    tasks = schema_defaults("tasks")
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_const",
        const="ok",
        help="keep the rows --out (and its journal) already hold for this manifest; run only "
        "the tasks with none, and those whose files no longer hold what their rows say (every "
        "byte is read again)",
    )
    again.add_argument(
        "--resume-failed",
        dest="resume",
        action="store_const",
        const="failed",
        help="as --resume, but run the tasks recorded as failed again too",
    )
    seconds = opt.in_range("tasks.timeout_s", float)
    p.add_argument(
        "--timeout",
        type=seconds,
        default=tasks["timeout_s"],
        help="seconds a task may run before its worker is killed and replaced, "
        f"{opt.range_help('tasks.timeout_s')} (default: none)",
    )
    p.add_argument(
        "--retries",
        type=opt.in_range("tasks.retries"),
        default=tasks["retries"],
        help="runs again of a task that failed for a transient reason (a timeout, a busy or "
        f"full disk), {opt.range_help('tasks.retries')} (default: %(default)s)",
    )
    for name, setting in (("--backoff", "backoff_s"), ("--backoff-max", "backoff_max_s")):
        p.add_argument(
            name,
            type=opt.in_range(f"tasks.{setting}", float),
            default=float(tasks[setting]),
            help=f"seconds, {opt.range_help(f'tasks.{setting}')} (default: %(default)s): the "
            + (
                "first wait before a retry, doubled each time"
                if setting == "backoff_s"
                else "longest wait before a retry"
            ),
        )


def _cmd_demo_tasks(args: argparse.Namespace) -> int:
    from poolpipe.tasks import write_demo

    check_output_path(args.manifest)
    write_demo(args.manifest, args.root, files=args.files, tasks=args.tasks, seed=args.seed)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `tasks` and `demo-tasks`."""
    demo = schema_defaults("demo")
    p = sub.add_parser(
        "tasks",
        help="run a JSON Lines manifest of file tasks inside one folder",
        epilog="exit status: 0 if every task succeeded, else the number of failed tasks "
        f"(at most {MAX_FAILED_STATUS}), as GNU parallel's; 1 with one sentence for a bad "
        "input or setting",
    )
    p.add_argument("manifest", help="JSON Lines, one task a line: op, path, content, src")
    p.add_argument("--root", required=True, help="the only folder the tasks may touch")
    p.add_argument("--out", required=True, help="where results.tsv goes")
    p.add_argument("--processes", **opt.processes("tasks"))
    _add_run_options(p)
    p.set_defaults(run=_cmd_tasks)

    p = sub.add_parser("demo-tasks", help="write the deterministic demo task root and manifest")
    p.add_argument("manifest")
    p.add_argument("root")
    p.add_argument(
        "--files",
        type=opt.in_range("demo.tasks.files"),
        default=demo["tasks"]["files"],
        help="text notes and binary blobs in the root, "
        f"{opt.range_help('demo.tasks.files')} (default: %(default)s)",
    )
    p.add_argument(
        "--tasks",
        type=opt.in_range("demo.tasks.tasks"),
        default=demo["tasks"]["tasks"],
        help="ordinary tasks in the manifest, "
        f"{opt.range_help('demo.tasks.tasks')} (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=opt.seed,
        default=demo["seed"],
        help="seed of the files (default: %(default)s)",
    )
    p.set_defaults(run=_cmd_demo_tasks)
