"""The `tasks` and `demo-tasks` commands."""

from __future__ import annotations

import argparse

from poolpipe.cli import options as opt
from poolpipe.core import check_output_path, dumps_json, refuse_overlap
from poolpipe.core.outputs import write_stdout


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
        write_stdout(dumps_json(summary.to_json()))
    return min(summary.failed, MAX_FAILED_STATUS)


MAX_FAILED_STATUS = 101
"""The exit status of a run with that many failed tasks or more, as GNU parallel's."""


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """--resume, --resume-failed, --timeout, --retries, --backoff, --backoff-max."""
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
    p.add_argument("--timeout", metavar="SECONDS", **opt.setting("tasks.timeout_s"))
    p.add_argument("--retries", **opt.setting("tasks.retries"))
    p.add_argument("--backoff", metavar="SECONDS", **opt.setting("tasks.backoff_s"))
    p.add_argument("--backoff-max", metavar="SECONDS", **opt.setting("tasks.backoff_max_s"))


def _cmd_demo_tasks(args: argparse.Namespace) -> int:
    from poolpipe.tasks import write_demo

    check_output_path(args.manifest)
    refuse_overlap(inputs={}, outputs={"manifest": args.manifest, "root": args.root})
    write_demo(args.manifest, args.root, files=args.files, tasks=args.tasks, seed=args.seed)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `tasks` and `demo-tasks`."""
    p = sub.add_parser(
        "tasks",
        help="run a JSON Lines manifest of file tasks inside one folder",
        epilog="exit status: 0 if every task succeeded, else the number of failed tasks "
        f"(at most {MAX_FAILED_STATUS}), as GNU parallel's; 1 with one sentence for a bad "
        "input or setting",
    )
    p.add_argument("manifest", help="JSON Lines, one task a line: op, path, content, src")
    p.add_argument(
        "--root", type=opt.folder, required=True, help="the only folder the tasks may touch"
    )
    p.add_argument("--out", required=True, help="where results.tsv goes")
    p.add_argument("--processes", **opt.processes("tasks"))
    _add_run_options(p)
    p.set_defaults(run=_cmd_tasks)

    p = sub.add_parser("demo-tasks", help="write the deterministic demo task root and manifest")
    p.add_argument("manifest")
    p.add_argument("root", type=opt.folder)
    p.add_argument("--files", **opt.setting("demo.tasks.files"))
    p.add_argument("--tasks", **opt.setting("demo.tasks.tasks"))
    p.add_argument("--seed", **opt.setting("demo.seed"))
    p.set_defaults(run=_cmd_demo_tasks)
