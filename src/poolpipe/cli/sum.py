"""The `sum` and `demo-numbers` commands."""

from __future__ import annotations

import argparse
import sys

from poolpipe.cli import options as opt
from poolpipe.core import (
    Stopwatch,
    check_input_file,
    check_output_path,
    dumps_json,
    refuse_overlap,
    schema_defaults,
)
from poolpipe.core.outputs import write_stdout


def _cmd_sum(args: argparse.Namespace) -> int:
    from poolpipe.sum import processes_for, scanner_note, sum_file

    refuse_overlap(inputs={"input": args.path}, outputs={"--timing": args.timing})
    opt.check_outputs(args, "timing")
    check_input_file(args.path)
    if note := scanner_note():
        sys.stderr.write(f"poolpipe: note: {note}\n")
    with Stopwatch() as watch:
        result = sum_file(args.path, args.processes, args.strict)
    write_stdout(dumps_json(result))
    used = processes_for(result["bytes"], args.processes)
    opt.timing_record(args, "sum", watch, result["numbers"], result["bytes"], used)
    return 0


def _cmd_demo_numbers(args: argparse.Namespace) -> int:
    from poolpipe.sum import write_numbers

    check_output_path(args.out)
    write_numbers(
        args.out,
        args.lines,
        seed=args.seed,
        blank_lines=args.blank_lines,
        bad_lines=args.bad_lines,
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `sum` and `demo-numbers`."""
    numbers = schema_defaults("demo.numbers")
    p = sub.add_parser("sum", help="sum a file of integers, one per line, exactly")
    p.add_argument("path", help="text file, one integer per line")
    p.add_argument("--processes", **opt.processes("sum"))
    p.add_argument("--strict", **opt.setting("sum.strict"))
    p.add_argument("--timing", metavar="PATH", help="also write the run's timing record here")
    p.set_defaults(run=_cmd_sum)

    p = sub.add_parser("demo-numbers", help="write the deterministic demo numbers file")
    p.add_argument("out")
    clean = "a clean file; the workflow's demo has {} to show the reporting"
    p.add_argument(
        "--lines",
        **opt.setting(
            "demo.numbers.lines",
            default=1_000_000,
            why=f"a quick try; the workflow's demo writes {numbers['lines']} to time the pool",
        ),
    )
    p.add_argument("--seed", **opt.setting("demo.seed"))
    for option in ("blank_lines", "bad_lines"):
        why = clean.format(numbers[option])
        p.add_argument(
            f"--{option.replace('_', '-')}",
            **opt.setting(f"demo.numbers.{option}", default=0, why=why),
        )
    p.set_defaults(run=_cmd_demo_numbers)
