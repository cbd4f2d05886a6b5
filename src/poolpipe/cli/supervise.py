"""The `supervise` command."""

from __future__ import annotations

import argparse
import sys

from poolpipe.cli import options as opt
from poolpipe.core import schema_defaults


def _cmd_supervise(args: argparse.Namespace) -> int:
    from poolpipe import supervise as sv

    programs = sv.with_heartbeats([sv.parse_program(s) for s in args.program], args.heartbeat)
    loops = [sv.parse_loop(spec) for spec in args.worker]
    if not loops and not programs:
        loops = list(sv.SEED_LOOPS)
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
        sys.stdout.write(sv.ticks_tsv(report))
    sv.check(report)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `supervise`."""
    supervise = schema_defaults("supervise")
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
    p.add_argument(
        "--duration",
        type=opt.seconds,
        help="seconds to run (default: until a signal, as the article's loops run; the "
        f"workflow's rule runs {supervise['duration_s']} s)",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="restart a loop that dies or hangs (off unless given; the workflow's rule "
        "restarts unless supervise.restart is false)",
    )
    p.add_argument(
        "--max-restarts",
        type=opt.in_range("supervise.max_restarts"),
        default=supervise["max_restarts"],
        help="restarts in a row (none --restart-window apart) before a loop is left dead, "
        f"{opt.range_help('supervise.max_restarts')} (default: %(default)s)",
    )
    p.add_argument(
        "--heartbeat-timeout",
        type=opt.seconds,
        default=float(supervise["heartbeat_timeout_s"]),
        help="seconds of silence before a loop is killed as hung, or a program whose "
        "heartbeat file stays unchanged as stalled (default: %(default)s)",
    )
    p.add_argument(
        "--stop-timeout",
        type=opt.seconds,
        default=float(supervise["stop_timeout_s"]),
        help="seconds a loop may take to stop before SIGTERM, then SIGKILL (default: %(default)s)",
    )
    _add_restart_options(p, supervise)
    p.add_argument(
        "--status-file",
        help="keep each loop's state, ticks, restarts and heartbeat age in this TSV file, "
        "replaced once a second while the loops run (default: none)",
    )
    p.add_argument("--out", help="write ticks.tsv here (default: standard output)")
    p.set_defaults(run=_cmd_supervise)


_RESTART_OPTIONS = (
    (
        "--stall-timeout",
        "stall_timeout_s",
        "seconds past its next tick a loop may send "
        "heartbeats without ticking before it is killed as stalled",
    ),
    (
        "--restart-backoff",
        "restart_backoff_s",
        "seconds before the first restart in a row, doubled for each next one",
    ),
    ("--restart-backoff-max", "restart_backoff_max_s", "longest wait before a restart"),
    ("--restart-jitter", "restart_jitter", "share of each restart wait drawn at random"),
    (
        "--restart-window",
        "restart_window_s",
        "seconds a restarted loop must run without "
        "failing for its restart count and backoff to be reset",
    ),
)


def _add_restart_options(p: argparse.ArgumentParser, supervise: dict) -> None:
    """Options for stalls and the restart backoff, each in its schema range."""
    for option, setting, text in _RESTART_OPTIONS:
        name = f"supervise.{setting}"
        p.add_argument(
            option,
            type=opt.in_range(name, float),
            default=float(supervise[setting]),
            help=f"{text}, {opt.range_help(name)} (default: %(default)s)",
        )
