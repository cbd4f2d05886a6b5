"""The `supervise` and `double` commands: the article's worker loops and its shared-memory
recipe, the two that show processes rather than process a stage's data."""

from __future__ import annotations

import argparse

from poolpipe.cli import options as opt
from poolpipe.core import dumps_json, schema_defaults
from poolpipe.core.defaults import Bounds
from poolpipe.core.outputs import write_stdout


def _cmd_supervise(args: argparse.Namespace) -> int:
    from poolpipe import supervise as sv

    programs = sv.with_heartbeats([sv.parse_program(s) for s in args.program], args.heartbeat)
    loops = [sv.parse_loop(spec) for spec in args.worker]
    if not loops and not programs:
        loops = list(sv.RECIPE_LOOPS)
    opt.check_outputs(args, "out", "status_file")
    sv.check_paths(programs, args.log_dir, {"--out": args.out, "--status-file": args.status_file})
    settings = sv.SupervisorSettings(
        duration_s=args.duration,
        restart=args.restart,
        max_restarts=args.max_restarts,
        heartbeat_timeout_s=args.heartbeat_timeout,
        stop_timeout_s=args.stop_timeout,
        stall_timeout_s=args.stall_timeout,
        restart_backoff_s=args.restart_backoff,
        restart_backoff_max_s=args.restart_backoff_max,
        restart_jitter=args.restart_jitter,
        restart_window_s=args.restart_window,
    )
    report = sv.supervise(
        loops, settings, status=args.status_file, programs=programs, log_dir=args.log_dir
    )
    if args.out:
        sv.write_ticks(args.out, report)
    else:
        write_stdout(sv.ticks_tsv(report))
    sv.check(report)
    return 0


def _cmd_double(args: argparse.Namespace) -> int:
    from poolpipe.bench import double_shared

    write_stdout(dumps_json(double_shared(args.values, args.processes)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `supervise` and `double`."""
    duration = schema_defaults("supervise")["duration_s"]
    p = sub.add_parser(
        "supervise", help="run programs or worker loops until a time, a stop or Ctrl-C"
    )
    p.add_argument(
        "--program",
        action="append",
        default=[],
        metavar="NAME='COMMAND ARGS'",
        help="a program to run and keep running, in its own process group, its words split "
        "as a shell splits them but never run by a shell (repeat)",
    )
    p.add_argument(
        "--heartbeat",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a file whose modification time program NAME refreshes; one not refreshed for "
        "--heartbeat-timeout seconds is stalled and restarted (repeat)",
    )
    p.add_argument(
        "--log-dir",
        type=opt.folder,
        default=".",
        help="where each program's stdout and stderr are appended, to NAME.log "
        "(default: the current folder)",
    )
    p.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="NAME[:INTERVAL_S[:TICKS[:FAIL_AT_TICK]]]",
        help="a worker loop (repeat; without --worker and --program: the article's render, "
        "logic and network loops, as a demo)",
    )
    signal = "until a signal, as the article's loops run; the workflow's rule runs "
    p.add_argument(
        "--duration",
        **opt.setting("supervise.duration_s", default=None, why=f"{signal}{duration} s"),
    )
    rule = "off unless given; the workflow's rule restarts unless supervise.restart is false"
    p.add_argument("--restart", **opt.setting("supervise.restart", default=False, why=rule))
    for option, name in OPTIONS:
        p.add_argument(option, **opt.setting(f"supervise.{name}"))
    p.add_argument(
        "--status-file",
        help="keep each loop's state, ticks, restarts and heartbeat age in this TSV file, "
        "replaced once a second while the loops run (default: none)",
    )
    p.add_argument("--out", help="write ticks.tsv here (default: standard output)")
    p.set_defaults(run=_cmd_supervise)

    p = sub.add_parser("double", help="double integers in place in shared memory, in parallel")
    p.add_argument(
        "values",
        type=opt.in_bounds(Bounds()),  # its ASCII check; double_shared says the range
        nargs="*",
        help="whole numbers in ASCII digits, strictly between -2**62 and 2**62",
    )
    p.add_argument("--processes", **opt.processes("bench.cpu"))
    p.set_defaults(run=_cmd_double)


OPTIONS = (
    ("--max-restarts", "max_restarts"),
    ("--heartbeat-timeout", "heartbeat_timeout_s"),
    ("--stop-timeout", "stop_timeout_s"),
    ("--stall-timeout", "stall_timeout_s"),
    ("--restart-backoff", "restart_backoff_s"),
    ("--restart-backoff-max", "restart_backoff_max_s"),
    ("--restart-jitter", "restart_jitter"),
    ("--restart-window", "restart_window_s"),
)
"""Each option that sets a supervise key, and the key."""
