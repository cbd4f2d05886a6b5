"""Argument types and shared options of the `poolpipe` command, ranges from config/schema.yaml."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from poolpipe.core import Stopwatch, available_cpus, check_output_path, write_timing
from poolpipe.core.defaults import Bounds, schema_bounds, schema_setting


def _whole(text: str, least: int) -> int:
    """A whole number of at least `least`, or the argument error that says which it is not."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least {least}")
    return value


def positive(text: str) -> int:
    """An argument type: a whole number of at least 1."""
    return _whole(text, 1)


def count(text: str) -> int:
    """An argument type: a whole number of at least 0."""
    return _whole(text, 0)


def seed(text: str) -> int:
    """An argument type: a random seed, in the range config/schema.yaml gives demo.seed."""
    return int(in_range("demo.seed")(text))


def seconds(text: str) -> float:
    """An argument type: seconds above 0 (the stage's settings check the range)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def names(text: str) -> list[str]:
    """An argument type: a comma-separated list of non-empty names."""
    parts = [name.strip() for name in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of column names")
    return parts


def in_range(setting: str, kind: type[float] = int) -> Callable[[str], float]:
    """An argument type: a number in the range config/schema.yaml gives `setting`."""
    return in_bounds(schema_bounds(setting), kind)


def in_bounds(bounds: Bounds, kind: type[float] = int) -> Callable[[str], float]:
    """An argument type: a number within bounds."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        problem = bounds.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def list_size(setting: str) -> Callable[[str], int]:
    """An argument type: a count of items within the size config/schema.yaml gives a list."""
    node = schema_setting(setting)
    return in_bounds(Bounds(node.get("minItems", 0), node.get("maxItems")))


def list_size_help(setting: str) -> str:
    """A list setting's size in words, for a help text, e.g. "1 to 254"."""
    node = schema_setting(setting)
    return f"{node.get('minItems', 0)} to {node['maxItems']}"


def number_list(setting: str) -> Callable[[str], list[float]]:
    """An argument type: comma-separated numbers, as many as the list setting allows, each in
    the range of its items."""
    node, item = schema_setting(setting), in_range(f"{setting}[]", float)
    low, high = node.get("minItems", 0), node["maxItems"]

    def parse(text: str) -> list[float]:
        values = [item(part.strip()) for part in text.split(",")]
        if not low <= len(values) <= high:
            problem = f"{len(values)} numbers given, {low} to {high} allowed"
            raise argparse.ArgumentTypeError(problem)
        return values

    return parse


def range_help(setting: str) -> str:
    """A setting's range in words, for a help text, e.g. "at least 1 and at most 1024"."""
    return schema_bounds(setting).text()


def processes(stage: str) -> dict[str, object]:
    """The --processes option of a stage: its `threads` range, the usable CPUs by default."""
    setting = f"{stage}.threads"
    return {
        "type": in_range(setting),
        "default": available_cpus(),
        "help": f"processes in the pool, {range_help(setting)} (default: %(default)s, "
        "the CPUs this process may use)",
    }


def check_outputs(args: argparse.Namespace, *options: str) -> None:
    """Check every output path the command was given, before any work starts."""
    for option in options:
        path = getattr(args, option)
        if path is not None:
            check_output_path(path, f"--{option.replace('_', '-')}")


def timing_record(
    args: argparse.Namespace, stage: str, watch: Stopwatch, items: int, size: int
) -> None:
    """Write a command's timing record where --timing asks for one."""
    if args.timing:
        write_timing(
            args.timing,
            stage=stage,
            rule="cli",
            watch=watch,
            items=items,
            size=size,
            processes=args.processes,
        )
